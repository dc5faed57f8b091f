/**
 * The Redis store against real topologies started on 127.0.0.1: Sentinel (with a forced failover),
 * a 3-master Cluster, and a TLS listener with an ACL user. Each runs the store contract operations.
 */
import t from 'tap';
import { RedisStore, RedisConfigError, checkRedisConfig } from '../../src/store/redis.js';
import { StoreUnavailableError, type KvStore } from '../../src/store/store.js';
import type { RedisConfig } from '../../src/config/schema.js';
import { freePort, startRedis } from '../helpers/redis-server.js';
import { uniquePrefix } from '../helpers/store.js';
import { adminCommand, makeTestCa, startCluster, startSentinelSet, waitFor } from '../helpers/redis-topologies.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const redisConfig = (c: Partial<RedisConfig>): RedisConfig => ({ keyPrefix: uniquePrefix(), tls: false, ...c });

/** The contract operations (test/store/contract.test.ts) that do not wait for expiry. */
async function contractOperations(t: Test, store: KvStore): Promise<void> {
  await store.set('a', '1');
  t.equal(await store.get('a'), '1', 'set/get');
  await store.set('b', '2', 100);
  const ttl = await store.ttl('b');
  t.ok(ttl > 95 && ttl <= 100, `ttl ${ttl}`);
  await store.del('a', 'b', 'never-there');
  t.same([await store.get('a'), await store.ttl('b')], [null, -2], 'del of keys in different slots');

  t.equal(await store.setIfAbsent('nx', 'first', 60), true);
  t.equal(await store.setIfAbsent('nx', 'second', 60), false, 'setIfAbsent keeps the first');

  await store.set('code:{c1}', 'payload', 60);
  const taken = await Promise.all(Array.from({ length: 20 }, () => store.take('code:{c1}')));
  t.equal(taken.filter((v) => v === 'payload').length, 1, 'take: exactly one of 20 concurrent takers wins');

  const counts = await Promise.all(Array.from({ length: 25 }, () => store.incr('ctr', 60)));
  t.same([...counts].sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i + 1), 'incr is atomic');
  t.ok((await store.ttl('ctr')) > 0, 'incr starts a window');

  await store.sadd('idx:{u1}', 'x', 60);
  await store.sadd('idx:{u1}', 'y', 60);
  await store.srem('idx:{u1}', 'x');
  t.same(await store.smembers('idx:{u1}'), ['y'], 'sets');

  const attempts = await Promise.all(Array.from({ length: 10 }, () => store.lock('lock:sess:{s1}', 5000)));
  const held = attempts.filter((l) => l !== null);
  t.equal(held.length, 1, 'lock: one holder of 10');
  t.equal(await held[0]!.renew(5000), true, 'the holder renews');
  await held[0]!.release();
  const next = await store.lock('lock:sess:{s1}', 5000);
  t.ok(next, 'free after release');
  await held[0]!.release();
  t.equal(await store.lock('lock:sess:{s1}', 5000), null, "a stale holder's release does not free another's lock");
  await next!.release();

  await t.resolves(store.ping(), 'ping');
}

t.test('Sentinel: contract, then a failover moves the store to the new master', async (t) => {
  const set = await startSentinelSet();
  const cfg = redisConfig({ sentinel: { name: set.name, nodes: set.nodes } });
  const store = await RedisStore.connect(cfg);
  t.teardown(async () => {
    await store.close();
    await set.stop();
  });

  await contractOperations(t, store);
  await store.set('before', 'x');
  t.equal(await adminCommand(set.master.port, 'GET', `${cfg.keyPrefix}before`), 'x', 'writes go to the master');

  await adminCommand(set.sentinels[0]!.port, 'SENTINEL', 'FAILOVER', set.name);
  await waitFor('the sentinels to name the replica master', async () => (await set.masterPort()) === set.replica.port);
  // Commands may fail while the client moves over; it must get there without a restart.
  await waitFor('the store to write to the new master', async () => {
    await store.set('after', 'y');
    return (await adminCommand(set.replica.port, 'GET', `${cfg.keyPrefix}after`)) === 'y';
  });
  t.equal(await store.get('before'), 'x', 'data written before the failover is still there');
  await t.resolves(store.ping(), 'ready again after the failover');
});

t.test('Cluster: contract across three masters; a session\'s hash-tagged keys share a slot', async (t) => {
  const cluster = await startCluster(3);
  const cfg = redisConfig({ cluster: { nodes: [cluster.seeds[0]!] } });
  const store = await RedisStore.connect(cfg);
  t.teardown(async () => {
    await store.close();
    await cluster.stop();
  });

  await contractOperations(t, store);

  await Promise.all(Array.from({ length: 60 }, (_, i) => store.set(`spread:${i}`, String(i), 60)));
  const perNode = await Promise.all(cluster.nodes.map((n) => adminCommand(n.port, 'DBSIZE') as Promise<number>));
  t.ok(perNode.every((n) => n > 0), `keys land on every master (${perNode.join(', ')}), from one seed node`);

  const slot = (key: string) => adminCommand(cluster.nodes[0]!.port, 'CLUSTER', 'KEYSLOT', `${cfg.keyPrefix}${key}`);
  t.equal(await slot('sess:{abc}'), await slot('lock:sess:{abc}'), 'the key prefix keeps the hash tag intact');
});

t.test('TLS with a private CA and an ACL user', async (t) => {
  const ca = await makeTestCa();
  t.teardown(() => ca.remove());
  const tlsPort = await freePort();
  const redis = await startRedis([...ca.redisArgs(tlsPort), '--user', 'menshen', 'on', '>acl-password', '~*', '&*', '+@all']);
  t.teardown(() => redis.stop());
  const url = `rediss://127.0.0.1:${tlsPort}/0`;
  const good = redisConfig({ url, username: 'menshen', password: 'acl-password', tlsCaFile: ca.caFile });

  const store = await RedisStore.connect(good);
  t.teardown(() => store.close());
  await contractOperations(t, store);
  t.equal(await (store.client as import('ioredis').Redis).call('ACL', 'WHOAMI'), 'menshen', 'authenticated as the ACL user');

  const byName = await RedisStore.connect(
    redisConfig({ url: `redis://127.0.0.1:${tlsPort}/0`, tls: true, tlsCaFile: ca.caFile, tlsServerName: 'redis.test', username: 'menshen', password: 'acl-password' }),
  );
  t.teardown(() => byName.close());
  await t.resolves(byName.ping(), 'tls: true on a redis:// URL, certificate checked against tlsServerName');

  const refused: Array<[string, Partial<RedisConfig>]> = [
    ['a wrong password', { password: 'wrong' }],
    ['no CA (the server certificate is not trusted)', { tlsCaFile: undefined }],
    ['a server name the certificate does not carry', { tlsServerName: 'other.test' }],
  ];
  for (const [what, change] of refused) {
    const bad = await RedisStore.connect({ ...good, ...change });
    await t.rejects(bad.ping(), StoreUnavailableError, `refused: ${what}`);
    await bad.close();
  }

  t.throws(() => checkRedisConfig({ ...good, tlsCaFile: '/nonexistent/ca.pem' }), RedisConfigError, 'an unreadable CA file is a config error');
  t.throws(() => checkRedisConfig(redisConfig({ cluster: { nodes: ['10.0.0.1'] } })), /store\.redis\.cluster\.nodes\[0\]: '10\.0\.0\.1' is not host:port/);
});
