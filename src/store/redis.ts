/**
 * KvStore on Redis through ioredis: standalone, Sentinel or Cluster, each with optional TLS and
 * ACL user. Commands never queue while Redis is down (enableOfflineQueue: false): they fail at once
 * with StoreUnavailableError so callers fail closed with a 503 instead of hanging; ioredis
 * reconnects in the background.
 *
 * Cluster: every multi-key operation here touches one key (DEL is issued per key, Lua scripts take
 * one key), and callers put a session's keys in one hash tag (`sess:{id}`, `lock:sess:{id}`), so no
 * command ever spans slots. keyPrefix must not contain `{` or `}` (it would become the hash tag).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Redis, Cluster, type RedisOptions, type ClusterOptions } from 'ioredis';
import type { RedisConfig } from '../config/schema.js';
import { StoreUnavailableError, type KvStore, type Lock } from './store.js';
import { RedisTrackedReads } from './redis-tracking.js';
import { closeConnection } from './redis-close.js';

const RELEASE_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const INCR_LUA = `local n = redis.call('incr', KEYS[1]) if n == 1 then redis.call('expire', KEYS[1], ARGV[1]) end return n`;
// DECR would create an absent key (at -1, without expiry): only an existing counter is refunded.
const DECR_LUA = `if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) else return 0 end`;
// ARGV: expected ('' with ARGV[4] = '1' means "absent"), next, ttl seconds (0: none), absent flag.
const CAS_LUA = `local cur = redis.call('get', KEYS[1])
if ARGV[4] == '1' then
  if cur then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
if tonumber(ARGV[3]) > 0 then redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) else redis.call('set', KEYS[1], ARGV[2]) end
return 1`;

const COMMAND_TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 3000;
const retryDelay = (times: number) => Math.min(times * 200, 2000);

/** A Redis setting that cannot work (unreadable CA file, bad node address): reported by its YAML path. */
export class RedisConfigError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'RedisConfigError';
  }
}

function hostPort(node: string, path: string): { host: string; port: number } {
  const i = node.lastIndexOf(':');
  const port = Number(node.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new RedisConfigError(path, `'${node}' is not host:port`);
  return { host: node.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

/** TLS options when TLS is on (tls: true or a rediss:// URL), else undefined. */
export function tlsOptions(cfg: RedisConfig): ConnectionOptions | undefined {
  if (!cfg.tls && !cfg.url?.startsWith('rediss://')) return undefined;
  const tls: ConnectionOptions = {};
  if (cfg.tlsCaFile) {
    try {
      tls.ca = readFileSync(cfg.tlsCaFile);
    } catch (err) {
      throw new RedisConfigError('store.redis.tlsCaFile', `cannot read ${cfg.tlsCaFile}: ${(err as Error).message}`);
    }
  }
  // Sentinel and Cluster hand out node addresses as IPs; the certificate names a host.
  if (cfg.tlsServerName) tls.servername = cfg.tlsServerName;
  return tls;
}

/** Checks what the schema cannot: node addresses parse, the CA file is readable. Throws RedisConfigError. */
export function checkRedisConfig(cfg: RedisConfig): void {
  tlsOptions(cfg);
  cfg.sentinel?.nodes.forEach((n, i) => hostPort(n, `store.redis.sentinel.nodes[${i}]`));
  cfg.cluster?.nodes.forEach((n, i) => hostPort(n, `store.redis.cluster.nodes[${i}]`));
}

/**
 * READONLY means we still talk to a master that a failover demoted: reconnect (Sentinel then
 * names the new master) and resend the command.
 */
const reconnectOnReadonly = (err: Error) => (err.message.startsWith('READONLY') ? 2 : false);

export type RedisClient = Redis | Cluster;

/** Builds the ioredis client for a config; exported for the readiness check and the test harness. */
export function createRedisClient(cfg: RedisConfig): RedisClient {
  const tls = tlsOptions(cfg);
  const perNode: RedisOptions = {
    enableOfflineQueue: false,
    // Commands issued in one event-loop tick leave in one write (the gateway's concurrent session
    // GETs, mostly): measured, one socket write per request was half of the proxy hop's own work,
    // and redis-server's CPU per request fell from 18.7 to 6.8 µs (bench/RESULTS.md).
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    ...(cfg.username ? { username: cfg.username } : {}),
    ...(tls ? { tls } : {}),
  };
  if (cfg.cluster) {
    const options: ClusterOptions = {
      keyPrefix: cfg.keyPrefix,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      lazyConnect: true,
      clusterRetryStrategy: retryDelay,
      redisOptions: { ...perNode, ...(cfg.cluster.password ? { password: cfg.cluster.password } : {}) },
      // With TLS, keep the node names as given so the certificate check sees them (ioredis docs,
      // AWS ElastiCache); without TLS, resolve as usual.
      ...(tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
    };
    return new Cluster(
      cfg.cluster.nodes.map((n, i) => hostPort(n, `store.redis.cluster.nodes[${i}]`)),
      options,
    );
  }
  const common: RedisOptions = {
    ...perNode,
    keyPrefix: cfg.keyPrefix,
    lazyConnect: true,
    retryStrategy: retryDelay,
    reconnectOnError: reconnectOnReadonly,
  };
  if (cfg.sentinel) {
    const s = cfg.sentinel;
    return new Redis({
      ...common,
      sentinels: s.nodes.map((n, i) => hostPort(n, `store.redis.sentinel.nodes[${i}]`)),
      name: s.name,
      // Subscribe to +switch-master so a failover moves us at once, not at the next error.
      failoverDetector: true,
      sentinelRetryStrategy: retryDelay,
      ...(s.password ? { password: s.password } : {}),
      ...(s.sentinelUsername ? { sentinelUsername: s.sentinelUsername } : {}),
      ...(s.sentinelPassword ? { sentinelPassword: s.sentinelPassword } : {}),
      ...(s.db !== undefined ? { db: s.db } : {}),
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
    });
  }
  const url = cfg.url ?? 'redis://127.0.0.1:6379/0';
  // Credentials in the URL win over username/password (ioredis fills only what the URL lacks).
  return new Redis(url, { ...common, ...(cfg.password ? { password: cfg.password } : {}) });
}

export class RedisStore implements KvStore {
  readonly kind = 'redis' as const;
  readonly tracked?: RedisTrackedReads;

  /** @param keyPrefix the client's keyPrefix; given, reads are tracked (standalone and Sentinel only) */
  constructor(
    readonly client: RedisClient,
    keyPrefix?: string,
  ) {
    // Errors surface through the failing command; this listener only keeps ioredis from
    // printing unhandled 'error' events while it reconnects.
    client.on('error', () => {});
    if (keyPrefix !== undefined && client instanceof Redis) this.tracked = new RedisTrackedReads(client, keyPrefix);
  }

  static async connect(cfg: RedisConfig): Promise<RedisStore> {
    const client = createRedisClient(cfg);
    const store = new RedisStore(client, cfg.keyPrefix);
    try {
      await client.connect();
    } catch {
      // Not fatal: readiness reports it and ioredis keeps retrying.
    }
    // The tracking connections follow the main one: a client that cannot get in (wrong CA or
    // password) opens no more sockets, and none is left mid-handshake when it is closed.
    const tracked = store.tracked;
    if (tracked) {
      if (client.status === 'ready') tracked.start();
      else client.once('ready', () => tracked.start());
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

  async decr(key: string): Promise<number> {
    return Number(await this.run(() => this.client.eval(DECR_LUA, 1, key)));
  }

  async compareAndSet(key: string, expected: string | null, next: string, ttlSeconds?: number): Promise<boolean> {
    const ttl = ttlSeconds && ttlSeconds > 0 ? Math.ceil(ttlSeconds) : 0;
    const result = await this.run(() => this.client.eval(CAS_LUA, 1, key, expected ?? '', next, ttl, expected === null ? '1' : '0'));
    return Number(result) === 1;
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

  srandmember(key: string, count: number) {
    return count <= 0 ? Promise.resolve([]) : this.run(() => this.client.srandmember(key, count));
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
    await this.tracked?.close();
    await closeConnection(this.client);
  }
}
