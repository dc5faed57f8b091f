/**
 * KvStore on Redis through ioredis: standalone, Sentinel or Cluster. Commands never queue while
 * Redis is down (enableOfflineQueue: false): they fail at once with StoreUnavailableError so callers
 * fail closed with a 503 instead of hanging; ioredis reconnects in the background.
 */
import { randomBytes } from 'node:crypto';
import { Redis, Cluster, type RedisOptions, type ClusterOptions } from 'ioredis';
import type { RedisConfig } from '../config/schema.js';
import { StoreUnavailableError, type KvStore, type Lock } from './store.js';

const RELEASE_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const INCR_LUA = `local n = redis.call('incr', KEYS[1]) if n == 1 then redis.call('expire', KEYS[1], ARGV[1]) end return n`;

function hostPort(node: string): { host: string; port: number } {
  const i = node.lastIndexOf(':');
  return { host: node.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(node.slice(i + 1)) };
}

export type RedisClient = Redis | Cluster;

/** Builds the ioredis client for a config; exported for the readiness check and the test harness. */
export function createRedisClient(cfg: RedisConfig): RedisClient {
  const common: RedisOptions = {
    keyPrefix: cfg.keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    connectTimeout: 3000,
    lazyConnect: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...(cfg.username ? { username: cfg.username } : {}),
    ...(cfg.tls ? { tls: {} } : {}),
  };
  if (cfg.cluster) {
    const options: ClusterOptions = {
      keyPrefix: cfg.keyPrefix,
      enableOfflineQueue: false,
      lazyConnect: true,
      clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
      redisOptions: {
        ...(cfg.cluster.password ? { password: cfg.cluster.password } : {}),
        ...(cfg.username ? { username: cfg.username } : {}),
        ...(cfg.tls ? { tls: {} } : {}),
        commandTimeout: 2000,
        connectTimeout: 3000,
        maxRetriesPerRequest: 1,
      },
    };
    return new Cluster(cfg.cluster.nodes.map(hostPort), options);
  }
  if (cfg.sentinel) {
    return new Redis({
      ...common,
      sentinels: cfg.sentinel.nodes.map(hostPort),
      name: cfg.sentinel.name,
      ...(cfg.sentinel.password ? { password: cfg.sentinel.password } : {}),
      ...(cfg.sentinel.sentinelPassword ? { sentinelPassword: cfg.sentinel.sentinelPassword } : {}),
      ...(cfg.sentinel.db !== undefined ? { db: cfg.sentinel.db } : {}),
    });
  }
  const url = cfg.url ?? 'redis://127.0.0.1:6379/0';
  return new Redis(url, {
    ...common,
    ...(cfg.password ? { password: cfg.password } : {}),
    ...(url.startsWith('rediss://') ? { tls: {} } : {}),
  });
}

export class RedisStore implements KvStore {
  readonly kind = 'redis' as const;

  constructor(readonly client: RedisClient) {
    // Errors surface through the failing command; this listener only keeps ioredis from
    // printing unhandled 'error' events while it reconnects.
    client.on('error', () => {});
  }

  static async connect(cfg: RedisConfig): Promise<RedisStore> {
    const client = createRedisClient(cfg);
    const store = new RedisStore(client);
    try {
      await client.connect();
    } catch {
      // Not fatal: readiness reports it and ioredis keeps retrying.
    }
    return store;
  }

  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new StoreUnavailableError(err);
    }
  }

  get(key: string) {
    return this.run(() => this.client.get(key));
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    await this.run(() => (ttlSeconds && ttlSeconds > 0 ? this.client.set(key, value, 'EX', ttlSeconds) : this.client.set(key, value)));
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return (await this.run(() => this.client.set(key, value, 'EX', ttlSeconds, 'NX'))) === 'OK';
  }

  take(key: string) {
    return this.run(() => this.client.getdel(key));
  }

  async del(...keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    // One DEL per key: in a cluster the keys may live in different slots.
    await this.run(() => Promise.all(keys.map((k) => this.client.del(k))));
  }

  async incr(key: string, ttlSeconds: number): Promise<number> {
    return Number(await this.run(() => this.client.eval(INCR_LUA, 1, key, ttlSeconds)));
  }

  ttl(key: string) {
    return this.run(() => this.client.ttl(key));
  }

  async expire(key: string, ttlSeconds: number): Promise<void> {
    await this.run(() => this.client.expire(key, ttlSeconds));
  }

  async sadd(key: string, member: string, ttlSeconds?: number): Promise<void> {
    await this.run(async () => {
      await this.client.sadd(key, member);
      if (ttlSeconds && ttlSeconds > 0) {
        // Extend only: an index lives as long as its longest-lived member.
        const left = await this.client.ttl(key);
        if (left < ttlSeconds) await this.client.expire(key, ttlSeconds);
      }
    });
  }

  async srem(key: string, member: string): Promise<void> {
    await this.run(() => this.client.srem(key, member));
  }

  smembers(key: string) {
    return this.run(() => this.client.smembers(key));
  }

  async lock(key: string, ttlMs: number): Promise<Lock | null> {
    const token = randomBytes(16).toString('hex');
    const ok = await this.run(() => this.client.set(key, token, 'PX', ttlMs, 'NX'));
    if (ok !== 'OK') return null;
    return {
      renew: async (ms: number) => Number(await this.run(() => this.client.eval(RENEW_LUA, 1, key, token, ms))) === 1,
      release: async () => {
        await this.run(() => this.client.eval(RELEASE_LUA, 1, key, token));
      },
    };
  }

  async ping(): Promise<void> {
    await this.run(() => this.client.ping());
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
