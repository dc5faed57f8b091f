/**
 * Redis client-side caching (src/store/redis-tracking.ts) against a real redis-server: reads go
 * live, a change made by any client is reported by key (prefix stripped), a report that overtakes
 * the read's reply is caught by mark/changedSince, a flush voids everything, and a Redis restart
 * ends `live` at once and comes back under a new epoch. The memory store and a Cluster client
 * offer no tracked reads.
 */
import t from 'tap';
import { Redis, Cluster } from 'ioredis';
import { RedisStore } from '../../src/store/redis.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { KvStore, TrackedReads } from '../../src/store/store.js';
import { startRedis } from '../helpers/redis-server.js';
import { testRedisStore, testRedisUrl, uniquePrefix } from '../helpers/store.js';
import { until } from '../helpers/until.js';

function reports(tracked: TrackedReads): Array<string[] | null> {
  const seen: Array<string[] | null> = [];
  tracked.onChange((keys) => seen.push(keys));
  return seen;
}

t.test('reads go live; a change by any client is reported by key, once per read', async (t) => {
  const prefix = uniquePrefix();
  const store = await testRedisStore(prefix);
  const other = await testRedisStore(prefix);
  t.teardown(() => Promise.all([store.close(), other.close()]));
  const tracked = store.tracked!;
  t.ok(tracked, 'a standalone Redis store tracks reads');
  await until('tracking live', () => tracked.live);
  const seen = reports(tracked);

  await other.set('watched', 'v1', 60);
  await other.set('unread', 'x', 60);
  const mark = tracked.mark();
  const read = await tracked.read('watched');
  t.equal(read.value, 'v1', 'the value');
  t.ok(read.ttlMs > 55_000 && read.ttlMs <= 60_000, `its remaining lifetime in ms (${read.ttlMs})`);
  t.notOk(tracked.changedSince('watched', mark), 'nothing reported since the mark');
  t.same(await tracked.read('absent'), { value: null, ttlMs: -2 }, 'an absent key: null, -2');

  await other.set('unread', 'y', 60);
  await other.set('watched', 'v2', 60);
  await until('the report for watched', () => seen.some((keys) => keys?.includes('watched')));
  t.same(seen, [['watched']], 'only the key this connection read, without the prefix');
  t.ok(tracked.changedSince('watched', mark), 'changedSince: a report after the mark');
  t.notOk(tracked.changedSince('unread', mark), 'no report for a key nobody read');

  await other.set('watched', 'v3', 60);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(seen.length, 1, 'a second change without a new read: no second report (Redis forgets the key once reported)');

  const again = tracked.mark();
  await tracked.read('watched');
  await store.expire('watched', 120);
  await until('the report of an EXPIRE', () => tracked.changedSince('watched', again));
  await tracked.read('watched');
  const beforeDelete = tracked.mark();
  await other.del('watched');
  await until('the report of a delete', () => tracked.changedSince('watched', beforeDelete));
  t.pass('this process\'s own EXPIRE and another client\'s DEL are reported too');
});

t.test('a report that lands while a read is in flight is caught by the mark', async (t) => {
  const prefix = uniquePrefix();
  const store = await testRedisStore(prefix);
  const other = await testRedisStore(prefix);
  t.teardown(() => Promise.all([store.close(), other.close()]));
  const tracked = store.tracked!;
  await until('tracking live', () => tracked.live);
  await other.set('k', 'old', 60);
  await tracked.read('k'); // tracked from here on
  const mark = tracked.mark();
  // The write and a second read race: whichever answers first, the report is after the mark.
  const [read] = await Promise.all([tracked.read('k'), other.set('k', 'new', 60)]);
  await until('the report', () => tracked.changedSince('k', mark));
  t.ok(['old', 'new'].includes(read.value ?? ''), `the racing read answered ${read.value}`);
  t.ok(tracked.changedSince('k', mark), 'a caller holding that read sees it may be stale');
});

t.test('a flush voids every read: the epoch moves and listeners hear null', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const store = await RedisStore.connect({ url: redis.url, keyPrefix: 'f:', tls: false });
  t.teardown(() => store.close());
  const tracked = store.tracked!;
  await until('tracking live', () => tracked.live);
  const seen = reports(tracked);
  await store.set('a', '1', 60);
  await tracked.read('a');
  const epoch = tracked.epoch;
  const admin = new Redis(redis.url);
  t.teardown(() => admin.quit());
  await admin.flushall();
  await until('the flush report', () => seen.includes(null));
  t.ok(tracked.epoch > epoch, 'a new epoch');
});

t.test('Redis restarted: not live at once, live again under a new epoch, reads tracked again', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const store = await RedisStore.connect({ url: redis.url, keyPrefix: 'r:', tls: false });
  t.teardown(() => store.close());
  const tracked = store.tracked!;
  await until('tracking live', () => tracked.live);
  const epoch = tracked.epoch;

  await redis.kill();
  await until('not live once the connections close', () => !tracked.live, 2_000);
  t.ok(tracked.epoch > epoch, 'the loss moved the epoch');
  await t.rejects(tracked.read('x'), 'a read fails while Redis is down');

  await redis.restart();
  // The tracking pair and the store's own connection reconnect on their own schedules; the
  // writes below go through the latter, which queues nothing while it is down (fail closed).
  await until('live again', () => tracked.live && store.client.status === 'ready', 10_000);
  const seen = reports(tracked);
  await store.set('x', '1', 60);
  await tracked.read('x');
  await store.set('x', '2', 60);
  await until('a report after the restart', () => seen.some((keys) => keys?.includes('x')));
  t.pass('the new connections track and report again');
});

t.test('stores that cannot report changes offer no tracked reads', async (t) => {
  t.equal((new MemoryStore() as KvStore).tracked, undefined, 'memory');
  const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
  const store = new RedisStore(cluster, 'c:');
  t.equal(store.tracked, undefined, 'a Redis Cluster client');
  cluster.disconnect();
  const plain = new RedisStore(new Redis(testRedisUrl(), { lazyConnect: true }));
  t.equal(plain.tracked, undefined, 'a client given without its key prefix');
  plain.client.disconnect();
});

t.test('ACL: the documented rights turn tracking on; without them reads still work, untracked', async (t) => {
  const redis = await startRedis([
    // docs/deploy.md: the store's rights minus @dangerous, plus what tracking needs
    '--user', 'tracked', 'on', '>pw', '~*', '+@all', '-@dangerous', '+client|tracking', '+client|id', '+client|list', '+client|setname', '&__redis__:invalidate',
    '--user', 'plain', 'on', '>pw', '~*', '+@all', '-@dangerous', 'resetchannels',
  ]);
  t.teardown(() => redis.stop());
  const tracked = await RedisStore.connect({ url: redis.url, username: 'tracked', password: 'pw', keyPrefix: 'a:', tls: false });
  const plain = await RedisStore.connect({ url: redis.url, username: 'plain', password: 'pw', keyPrefix: 'a:', tls: false });
  t.teardown(() => Promise.all([tracked.close(), plain.close()]));
  await until('tracking live with the documented rights', () => tracked.tracked!.live);
  t.pass('live with the documented rights');
  await plain.set('k', 'v', 60);
  t.equal(await plain.get('k'), 'v', 'a user without them still reads and writes');
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(plain.tracked!.live, 'but its reads are not tracked (no channel right): every load reads Redis');
});
