/** Stores for tests: the suite's Redis (REDIS_URL from test/run.ts) under a unique key prefix. */
import { randomBytes } from 'node:crypto';
import { RedisStore } from '../../src/store/redis.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { KvStore } from '../../src/store/store.js';

export function testRedisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: run the suite with `npm test` (it starts a redis-server) or set REDIS_URL');
  return url;
}

/** A unique prefix per test so tests sharing one Redis never see each other's keys. */
export function uniquePrefix(): string {
  return `t${randomBytes(6).toString('hex')}:`;
}

export async function testRedisStore(prefix = uniquePrefix()): Promise<RedisStore> {
  return RedisStore.connect({ url: testRedisUrl(), keyPrefix: prefix, tls: false });
}

/** Both store kinds, for contract-style tests: [name, factory]. */
export const storeKinds: Array<[string, () => Promise<KvStore>]> = [
  ['memory', async () => new MemoryStore()],
  ['redis', () => testRedisStore()],
];
