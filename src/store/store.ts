/**
 * The key-value contract every part of menshen stores state through. Two implementations:
 * memory.ts (one replica) and redis.ts (shared); test/store/contract.test.ts runs against both.
 * Keys are given without the configured prefix; implementations add it.
 * Keys that must share a Redis Cluster slot use a hash tag: `sess:{abc}`, `lock:sess:{abc}`.
 */
export interface KvStore {
  /** The value, or null when absent or expired. */
  get(key: string): Promise<string | null>;
  /** Sets a value; ttlSeconds > 0 expires it. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** Sets only when absent (SET NX); true when it was set. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** Reads and deletes in one step (GETDEL): the one-time consumption of a code or handle. */
  take(key: string): Promise<string | null>;
  del(...keys: string[]): Promise<void>;
  /** Adds 1 and returns the new value; the first increment starts a window of ttlSeconds. */
  incr(key: string, ttlSeconds: number): Promise<number>;
  /**
   * Subtracts 1 from an existing counter, keeping its expiry (a refunded reservation); returns the
   * new value, or 0 when the counter is absent (nothing is created).
   */
  decr(key: string): Promise<number>;
  /**
   * Replaces the value only while it still equals `expected` (null: only when absent), in one
   * atomic step; ttlSeconds > 0 sets the new expiry. True when it was replaced. The check-then-write
   * of a state machine (refresh rotation against a concurrent revocation) without a lost update.
   */
  compareAndSet(key: string, expected: string | null, next: string, ttlSeconds?: number): Promise<boolean>;
  /** Remaining lifetime in seconds: -1 no expiry, -2 absent. */
  ttl(key: string): Promise<number>;
  /** Resets the expiry of an existing key. */
  expire(key: string, ttlSeconds: number): Promise<void>;
  /** Set membership, for indexes (user -> sessions, sid -> sessions). */
  sadd(key: string, member: string, ttlSeconds?: number): Promise<void>;
  srem(key: string, member: string): Promise<void>;
  smembers(key: string): Promise<string[]>;
  /**
   * A lease lock: null when held elsewhere. The holder renews it while it works and releases it
   * when done; release and renew only act while the lock is still the holder's (a token check).
   */
  lock(key: string, ttlMs: number): Promise<Lock | null>;
  /** Throws when the backing service is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
  readonly kind: 'memory' | 'redis';
}

export interface Lock {
  renew(ttlMs: number): Promise<boolean>;
  release(): Promise<void>;
}

/** Thrown by the Redis store when Redis cannot be reached: callers fail closed (503). */
export class StoreUnavailableError extends Error {
  constructor(cause?: unknown) {
    super('session store unavailable', { cause });
    this.name = 'StoreUnavailableError';
  }
}
