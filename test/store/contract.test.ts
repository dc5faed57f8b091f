/** One contract, both stores: what every KvStore must do, lock and take under real concurrency. */
import t from 'tap';
import { storeKinds } from '../helpers/store.js';

for (const [kind, make] of storeKinds) {
  t.test(`${kind} store contract`, async (t) => {
    const store = await make();
    t.teardown(() => store.close());

    t.test('get/set/del', async (t) => {
      t.equal(await store.get('missing'), null);
      await store.set('a', '1');
      t.equal(await store.get('a'), '1');
      t.equal(await store.ttl('a'), -1, 'no ttl means no expiry');
      await store.set('b', '2', 100);
      const ttl = await store.ttl('b');
      t.ok(ttl > 95 && ttl <= 100, `ttl ${ttl}`);
      await store.del('a', 'b', 'never-there');
      t.equal(await store.get('a'), null);
      t.equal(await store.ttl('a'), -2);
    });

    t.test('values expire', async (t) => {
      await store.set('short', 'x', 1);
      await store.expire('short', 1);
      t.equal(await store.get('short'), 'x');
      await new Promise((r) => setTimeout(r, 1100));
      t.equal(await store.get('short'), null, 'gone after its ttl');
    });

    t.test('setIfAbsent', async (t) => {
      t.equal(await store.setIfAbsent('nx', 'first', 60), true);
      t.equal(await store.setIfAbsent('nx', 'second', 60), false);
      t.equal(await store.get('nx'), 'first');
    });

    t.test('take is one-time, even under concurrency', async (t) => {
      await store.set('code', 'payload', 60);
      const results = await Promise.all(Array.from({ length: 20 }, () => store.take('code')));
      t.equal(results.filter((r) => r === 'payload').length, 1, 'exactly one taker wins');
      t.equal(await store.get('code'), null);
    });

    t.test('incr counts atomically within a window', async (t) => {
      const values = await Promise.all(Array.from({ length: 25 }, () => store.incr('ctr', 60)));
      t.same([...values].sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i + 1));
      const ttl = await store.ttl('ctr');
      t.ok(ttl > 0 && ttl <= 60, 'window set on first increment');
    });

    t.test('decr refunds an existing counter and never creates one', async (t) => {
      await Promise.all(Array.from({ length: 5 }, () => store.incr('refund', 60)));
      const after = await Promise.all(Array.from({ length: 3 }, () => store.decr('refund')));
      t.same([...after].sort((a, b) => a - b), [2, 3, 4], 'each refund sees its own value');
      t.equal(await store.get('refund'), '2');
      const ttl = await store.ttl('refund');
      t.ok(ttl > 0 && ttl <= 60, 'the window is kept');
      t.equal(await store.decr('no-counter'), 0);
      t.equal(await store.get('no-counter'), null, 'nothing created');
    });

    t.test('compareAndSet: one winner under concurrency, a changed value is never overwritten', async (t) => {
      t.equal(await store.compareAndSet('cas', null, 'v0', 60), true, 'null expected: set when absent');
      t.equal(await store.compareAndSet('cas', null, 'other', 60), false, 'but not when present');
      const racers = await Promise.all(Array.from({ length: 20 }, (_, i) => store.compareAndSet('cas', 'v0', `v${i + 1}`, 60)));
      t.equal(racers.filter(Boolean).length, 1, 'exactly one of twenty writers replaces v0');
      const winner = `v${racers.indexOf(true) + 1}`;
      t.equal(await store.get('cas'), winner);
      // A revocation that lands between a reader's get and its write: the write must lose.
      await store.set('cas', 'revoked', 60);
      t.equal(await store.compareAndSet('cas', winner, 'rotated', 60), false);
      t.equal(await store.get('cas'), 'revoked');
      const ttl = await store.ttl('cas');
      t.ok(ttl > 0 && ttl <= 60, 'ttl set with the value');
      t.equal(await store.compareAndSet('cas', 'revoked', 'forever'), true);
      t.equal(await store.ttl('cas'), -1, 'no ttl: no expiry');
    });

    t.test('sets', async (t) => {
      await store.sadd('idx', 'x', 60);
      await store.sadd('idx', 'y', 60);
      await store.sadd('idx', 'x', 60);
      t.same((await store.smembers('idx')).sort(), ['x', 'y']);
      await store.srem('idx', 'x');
      t.same(await store.smembers('idx'), ['y']);
      t.same(await store.smembers('nothing'), []);
    });

    t.test('srandmember: distinct members, at most count, all of them when fewer', async (t) => {
      for (let i = 0; i < 20; i++) await store.sadd('pool', `m${i}`, 60);
      const some = await store.srandmember('pool', 5);
      t.equal(some.length, 5);
      t.equal(new Set(some).size, 5, 'no repeats');
      t.ok(some.every((m) => /^m\d+$/.test(m)));
      t.same((await store.srandmember('pool', 100)).sort(), Array.from({ length: 20 }, (_, i) => `m${i}`).sort(), 'all, each once');
      t.same(await store.srandmember('nothing', 5), []);
      t.same(await store.srandmember('pool', 0), []);
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) for (const m of await store.srandmember('pool', 3)) seen.add(m);
      t.ok(seen.size > 5, 'random, not always the same few');
    });

    t.test('lock: one holder, renew and release only by the holder', async (t) => {
      const attempts = await Promise.all(Array.from({ length: 10 }, () => store.lock('lk', 5000)));
      const held = attempts.filter((l) => l !== null);
      t.equal(held.length, 1, 'exactly one lock acquired');
      const lock = held[0]!;
      t.equal(await store.lock('lk', 5000), null, 'held');
      t.equal(await lock.renew(5000), true);
      await lock.release();
      const again = await store.lock('lk', 100);
      t.ok(again, 'free after release');
      await new Promise((r) => setTimeout(r, 200));
      t.equal(await again!.renew(1000), false, 'an expired lease cannot be renewed');
      const third = await store.lock('lk', 5000);
      t.ok(third, 'free after expiry');
      await again!.release();
      t.equal(await store.lock('lk', 5000), null, "a stale holder's release does not free another's lock");
      await third!.release();
    });

    t.test('ping', async (t) => {
      await t.resolves(store.ping());
    });
  });
}
