/** In-process KvStore for a single replica and for tests. Expiry is checked lazily and swept. */
import { randomBytes } from 'node:crypto';
import type { KvStore, Lock } from './store.js';

interface Entry {
  value: string | Set<string>;
  expiresAt: number; // ms epoch; 0 = never
}

export class MemoryStore implements KvStore {
  readonly kind = 'memory' as const;
  private readonly data = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  private live(key: string): Entry | undefined {
    const e = this.data.get(key);
    if (!e) return undefined;
    if (e.expiresAt !== 0 && e.expiresAt <= this.now()) {
      this.data.delete(key);
      return undefined;
    }
    return e;
  }

  private deadline(ttlSeconds?: number): number {
    return ttlSeconds && ttlSeconds > 0 ? this.now() + ttlSeconds * 1000 : 0;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, e] of this.data) if (e.expiresAt !== 0 && e.expiresAt <= now) this.data.delete(k);
  }

  async get(key: string): Promise<string | null> {
    const e = this.live(key);
    return e && typeof e.value === 'string' ? e.value : null;
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    this.data.set(key, { value, expiresAt: this.deadline(ttlSeconds) });
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    if (this.live(key)) return false;
    this.data.set(key, { value, expiresAt: this.deadline(ttlSeconds) });
    return true;
  }

  async take(key: string): Promise<string | null> {
    const e = this.live(key);
    if (!e || typeof e.value !== 'string') return null;
    this.data.delete(key);
    return e.value;
  }

  async del(...keys: string[]): Promise<void> {
    for (const k of keys) this.data.delete(k);
  }

  async incr(key: string, ttlSeconds: number): Promise<number> {
    const e = this.live(key);
    const n = (e && typeof e.value === 'string' ? Number(e.value) : 0) + 1;
    this.data.set(key, { value: String(n), expiresAt: e ? e.expiresAt : this.deadline(ttlSeconds) });
    return n;
  }

  async decr(key: string): Promise<number> {
    const e = this.live(key);
    if (!e || typeof e.value !== 'string') return 0;
    const n = Number(e.value) - 1;
    e.value = String(n);
    return n;
  }

  async compareAndSet(key: string, expected: string | null, next: string, ttlSeconds?: number): Promise<boolean> {
    const e = this.live(key);
    const current = e && typeof e.value === 'string' ? e.value : null;
    if (e && typeof e.value !== 'string') return false;
    if (current !== expected) return false;
    this.data.set(key, { value: next, expiresAt: this.deadline(ttlSeconds) });
    return true;
  }

  async ttl(key: string): Promise<number> {
    const e = this.live(key);
    if (!e) return -2;
    if (e.expiresAt === 0) return -1;
    return Math.ceil((e.expiresAt - this.now()) / 1000);
  }

  async expire(key: string, ttlSeconds: number): Promise<void> {
    const e = this.live(key);
    if (e) e.expiresAt = this.deadline(ttlSeconds);
  }

  async sadd(key: string, member: string, ttlSeconds?: number): Promise<void> {
    const e = this.live(key);
    if (e && e.value instanceof Set) {
      e.value.add(member);
      if (ttlSeconds) e.expiresAt = Math.max(e.expiresAt, this.deadline(ttlSeconds));
    } else {
      this.data.set(key, { value: new Set([member]), expiresAt: this.deadline(ttlSeconds) });
    }
  }

  async srem(key: string, member: string): Promise<void> {
    const e = this.live(key);
    if (e && e.value instanceof Set) {
      e.value.delete(member);
      if (e.value.size === 0) this.data.delete(key);
    }
  }

  async smembers(key: string): Promise<string[]> {
    const e = this.live(key);
    return e && e.value instanceof Set ? [...e.value] : [];
  }

  async srandmember(key: string, count: number): Promise<string[]> {
    const all = await this.smembers(key);
    // Partial Fisher-Yates: the first `count` places get a uniform sample without repeats.
    const n = Math.min(Math.max(0, Math.floor(count)), all.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(Math.random() * (all.length - i));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return all.slice(0, n);
  }

  async lock(key: string, ttlMs: number): Promise<Lock | null> {
    const token = randomBytes(16).toString('hex');
    if (this.live(key)) return null;
    this.data.set(key, { value: token, expiresAt: this.now() + ttlMs });
    const mine = () => {
      const e = this.live(key);
      return e !== undefined && e.value === token ? e : undefined;
    };
    return {
      renew: async (ms: number) => {
        const e = mine();
        if (!e) return false;
        e.expiresAt = this.now() + ms;
        return true;
      },
      release: async () => {
        if (mine()) this.data.delete(key);
      },
    };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  /** Entry count, for diagnostics and tests. */
  get size(): number {
    return this.data.size;
  }
}
