/**
 * The in-process caches of the gateway hot path (session/store.ts, session/cookies.ts) change
 * nothing but speed: on a real Redis shared by two SessionStores (two replicas), a value
 * rewritten or deleted by one is seen by the other on its next load, a wrong secret never opens
 * a cached session, callers' changes to a loaded session never reach the cache, the cache bound
 * only costs unseals, and a cookie whose signature does not verify is refused even for a session
 * id whose genuine cookie was verified before.
 */
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { ManualClock } from '../../src/clock.js';
import { GatewayCookies } from '../../src/gateway/session/cookies.js';
import { CONFIRM_MAX_MS, SessionStore, sessionKey } from '../../src/gateway/session/store.js';
import { RedisStore } from '../../src/store/redis.js';
import { HEARTBEAT_MS } from '../../src/store/redis-tracking.js';
import { startRedis } from '../helpers/redis-server.js';
import type { SessionData } from '../../src/gateway/session/session.js';
import { testRedisStore, uniquePrefix } from '../helpers/store.js';
import { until } from '../helpers/until.js';

const TIMES = { ttl: 28_800, idleTtl: 3_600 };
const fields = (sub: string, at: string): Omit<SessionData, 'v' | 'exp' | 'w'> => ({
  claims: { sub, preferred_username: sub, groups: ['staff'] },
  at,
  atExp: Math.floor(Date.now() / 1000) + 3_600,
  rt: `rt-${sub}`,
  idt: `idt-${sub}`,
});

async function twoReplicas(t: Test, maxUnsealed?: number, url?: string, confirmMaxMs?: number) {
  const prefix = uniquePrefix();
  const connect = () => (url ? RedisStore.connect({ url, keyPrefix: prefix, tls: false }) : testRedisStore(prefix));
  const [kvA, kvB] = await Promise.all([connect(), connect()]);
  t.teardown(() => Promise.all([kvA.close(), kvB.close()]));
  // Reads are tracked (client-side caching) once both connections are armed, a few ms after connect.
  await until('tracked reads live', () => kvA.tracked!.live && kvB.tracked!.live);
  const clock = new ManualClock();
  return {
    kv: kvA,
    clock,
    a: new SessionStore(kvA, clock, TIMES, maxUnsealed, confirmMaxMs),
    b: new SessionStore(kvB, clock, TIMES, maxUnsealed, confirmMaxMs),
    /**
     * Runs a write made behind replica A's back and waits for Redis's report of it to reach A:
     * what A answers before the report arrives (a sub-millisecond window) is not what is tested.
     */
    reportedToA: async (id: string, write: () => Promise<unknown>) => {
      const mark = kvA.tracked!.mark();
      await write();
      await until('the report of the change', () => kvA.tracked!.changedSince(sessionKey(id), mark));
    },
  };
}

t.test('a session rewritten or ended by another replica is seen at once', async (t) => {
  const { a, b, reportedToA } = await twoReplicas(t);
  const created = await a.create(fields('alice', 'token-1'));
  const ticket = { id: created.id, secret: created.secret };
  t.equal((await a.load(ticket))?.data.at, 'token-1', 'replica A reads (and caches) its session');

  const onB = await b.loadVersioned(ticket);
  t.ok(onB, 'replica B reads the same session');
  onB!.session.data.at = 'token-2';
  await reportedToA(created.id, async () => t.ok(await b.saveIfUnchanged(onB!.session, onB!.box), 'B rewrites it (a refresh)'));
  t.equal((await a.load(ticket))?.data.at, 'token-2', 'A sees the new tokens, not its cached ones');

  await reportedToA(created.id, () => b.destroy(onB!.session));
  t.equal(await a.load(ticket), null, 'ended on B: gone on A too');
});

t.test('a wrong secret never opens a cached session', async (t) => {
  const { a } = await twoReplicas(t);
  const created = await a.create(fields('bob', 'token-b'));
  t.ok(await a.load({ id: created.id, secret: created.secret }), 'cached under its own secret');
  const forged = `${created.secret.slice(0, -1)}${created.secret.endsWith('A') ? 'B' : 'A'}`;
  t.equal(await a.load({ id: created.id, secret: forged }), null, 'one character off');
  t.equal(await a.load({ id: created.id, secret: 'x'.repeat(43) }), null, 'another secret of the same length');
  t.equal(await a.load({ id: created.id, secret: 'short' }), null, 'a secret of another length');
  t.equal((await a.load({ id: created.id, secret: created.secret }))?.data.at, 'token-b', 'the owner still gets in');
});

t.test("changes to a loaded session stay the caller's until written", async (t) => {
  const { a } = await twoReplicas(t);
  const created = await a.create(fields('carol', 'token-c'));
  const ticket = { id: created.id, secret: created.secret };
  const first = await a.load(ticket);
  first!.data.at = 'changed-but-not-saved';
  delete first!.data.rt;
  const again = await a.load(ticket);
  t.equal(again?.data.at, 'token-c', 'the cache still holds what the store holds');
  t.equal(again?.data.rt, 'rt-carol');
});

t.test('a tampered value is refused (never served from the cache of another value)', async (t) => {
  const { a, kv, reportedToA } = await twoReplicas(t);
  const created = await a.create(fields('dave', 'token-d'));
  const ticket = { id: created.id, secret: created.secret };
  t.ok(await a.load(ticket));
  const box = (await kv.get(sessionKey(created.id)))!;
  // A value of another session (new IV and tag) put under this id: sealed with the id as
  // associated data and another key, so it does not open.
  const other = await a.create(fields('eve', 'token-e'));
  const othersBox = (await kv.get(sessionKey(other.id)))!;
  await reportedToA(created.id, () => kv.set(sessionKey(created.id), othersBox, 60));
  t.equal(await a.load(ticket), null, "another session's value under this id: refused");
  await kv.set(sessionKey(created.id), box, 60);
  t.equal((await a.load(ticket))?.data.at, 'token-d', 'the genuine value again: served');
});

t.test('the cache bound only costs unseals', async (t) => {
  const { a } = await twoReplicas(t, 2);
  const sessions = await Promise.all(['f1', 'f2', 'f3', 'f4'].map((s) => a.create(fields(s, `token-${s}`))));
  for (let round = 0; round < 3; round++)
    for (const s of sessions) t.equal((await a.load({ id: s.id, secret: s.secret }))?.data.at, `token-${s.data.claims.sub}`);
});

t.test('a verified cookie value is remembered; a forged one is still refused', async (t) => {
  const cookies = new GatewayCookies({ cookieName: 'm', secrets: 'a-cookie-secret-that-is-long-enough-0123456789', publicUrl: 'http://127.0.0.1' });
  const ticket = { id: 'A'.repeat(22), secret: 'B'.repeat(43) };
  const value = cookies.sessionCookie(ticket, 60).split(';')[0]!;
  t.same(cookies.read(value).ticket, ticket, 'verified');
  t.same(cookies.read(value).ticket, ticket, 'again (remembered)');
  const sig = value.slice(value.lastIndexOf('.') + 1);
  const forgedSig = value.slice(0, value.lastIndexOf('.') + 1) + (sig.startsWith('A') ? 'B' : 'A') + sig.slice(1);
  t.equal(cookies.read(forgedSig).ticket, null, 'same ticket, altered signature: refused');
  const rotated = new GatewayCookies({ cookieName: 'm', secrets: ['a-new-cookie-secret-that-is-long-enough-012345', 'a-cookie-secret-that-is-long-enough-0123456789'], publicUrl: 'http://127.0.0.1' });
  t.equal(rotated.read(value).renewTicket, true, 'signed with a rotated-out secret: still marked for renewal');
  t.equal(rotated.read(value).renewTicket, true, 'and again, from the remembered value');
});

/** GET commands the server has run so far (INFO commandstats): what a load costs in round trips. */
async function getCalls(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  return Number(/cmdstat_get:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

t.test('tracked reads: a confirmed session costs no round trip, until a change, its TTL or the backstop', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const admin = new Redis(redis.url);
  t.teardown(() => admin.quit());
  const BACKSTOP_MS = 1_000; // CONFIRM_MAX_MS in production; short here: the deadline is real time
  const { a, b, kv, clock, reportedToA } = await twoReplicas(t, undefined, redis.url, BACKSTOP_MS);
  const created = await a.create(fields('frank', 'token-f'));
  const ticket = { id: created.id, secret: created.secret };

  t.equal((await a.load(ticket))?.data.at, 'token-f', 'the first load reads (and Redis tracks the key for A)');
  const before = await getCalls(admin);
  for (let i = 0; i < 100; i++) t.equal((await a.load(ticket))?.data.at, 'token-f');
  t.equal((await getCalls(admin)) - before, 0, '100 more loads: no GET');
  t.ok(CONFIRM_MAX_MS >= BACKSTOP_MS, 'production backstop');

  const onB = (await b.loadVersioned(ticket))!;
  onB.session.data.at = 'token-f2';
  await reportedToA(created.id, () => b.saveIfUnchanged(onB.session, onB.box));
  t.equal((await a.load(ticket))?.data.at, 'token-f2', 'rewritten on B: A reads the new value once Redis reports it');
  const reread = await getCalls(admin);
  await a.load(ticket);
  t.equal((await getCalls(admin)) - reread, 0, 'and is confirmed again');

  await new Promise((r) => setTimeout(r, BACKSTOP_MS + 50));
  const backstop = await getCalls(admin);
  t.equal((await a.load(ticket))?.data.at, 'token-f2');
  t.equal((await getCalls(admin)) - backstop, 1, `after the backstop (${BACKSTOP_MS} ms) without a report, one read again`);

  // Idle expiry: Redis reports an expired key only when it finds it, so A keeps the TTL it read.
  const short = new SessionStore(kv, clock, { ttl: 28_800, idleTtl: 1 });
  const brief = await short.create(fields('grace', 'token-g'));
  const briefTicket = { id: brief.id, secret: brief.secret };
  t.ok(await short.load(briefTicket), 'a session with a 1 s idle window, confirmed');
  await new Promise((r) => setTimeout(r, 1_100));
  t.equal(await short.load(briefTicket), null, 'past its TTL without any report: not served from the confirmation');
});

t.test('tracked reads: Redis down, a confirmed session fails closed; back up, it is read again', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const { a } = await twoReplicas(t, undefined, redis.url);
  const created = await a.create(fields('heidi', 'token-h'));
  const ticket = { id: created.id, secret: created.secret };
  t.ok(await a.load(ticket), 'confirmed');
  await redis.kill();
  await until('loads refused once the connections close', async () => {
    try {
      await a.load(ticket);
      return false;
    } catch (err) {
      return (err as Error).name === 'StoreUnavailableError';
    }
  }, 2_000);
  t.pass('StoreUnavailableError (the gateway answers 503), not the remembered session');
  await redis.restart();
  await until('Redis back', async () => {
    try {
      await a.load(ticket);
      return true;
    } catch {
      return false;
    }
  }, 10_000);
  t.equal(await a.load(ticket), null, 'the restarted Redis kept nothing (no persistence here): the session is gone, not resurrected from memory');
});

/**
 * A TCP relay to Redis that can silently stop one connection (no FIN, no RST: what a NAT or load
 * balancer dropping an idle flow looks like): the one that subscribed to the tracking reports.
 */
async function silentRelay(t: Test, port: number) {
  const { createServer, connect } = await import('node:net');
  const flows: Array<{ client: import('node:net').Socket; server: import('node:net').Socket; listener: boolean; frozen: boolean }> = [];
  const relay = createServer((client) => {
    const server = connect(port, '127.0.0.1');
    const flow = { client, server, listener: false, frozen: false };
    flows.push(flow);
    client.on('data', (d) => {
      if (d.includes('__redis__:invalidate')) flow.listener = true;
      if (!flow.frozen) server.write(d);
    });
    server.on('data', (d) => {
      if (!flow.frozen) client.write(d);
    });
    const end = () => {
      client.destroy();
      server.destroy();
    };
    client.on('close', end).on('error', end);
    server.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const f of flows) f.client.destroy();
    relay.close();
  });
  return {
    url: `redis://127.0.0.1:${(relay.address() as import('node:net').AddressInfo).port}/0`,
    freezeListener: () => {
      const f = flows.find((x) => x.listener && !x.frozen);
      if (!f) throw new Error('no listener connection through the relay');
      f.frozen = true;
    },
  };
}

t.test('tracked reads: a report connection that dies silently is caught by the heartbeat', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const relay = await silentRelay(t, redis.port);
  const prefix = uniquePrefix();
  const kvA = await RedisStore.connect({ url: relay.url, keyPrefix: prefix, tls: false });
  const kvB = await RedisStore.connect({ url: redis.url, keyPrefix: prefix, tls: false });
  t.teardown(() => Promise.all([kvA.close(), kvB.close()]));
  await until('tracked reads live', () => kvA.tracked!.live);
  const clock = new ManualClock();
  const a = new SessionStore(kvA, clock, TIMES);
  const b = new SessionStore(kvB, clock, TIMES);
  const created = await a.create(fields('ivan', 'token-i'));
  const ticket = { id: created.id, secret: created.secret };
  t.ok(await a.load(ticket), 'confirmed on A');

  relay.freezeListener();
  const onB = (await b.load(ticket))!;
  await b.destroy(onB);
  const frozenAt = Date.now();
  await until('A stops answering from memory', async () => (await a.load(ticket)) === null, 4 * HEARTBEAT_MS + 1_000);
  const took = Date.now() - frozenAt;
  t.ok(took <= 3 * HEARTBEAT_MS + 500, `the logout on B is honoured on A within ${took} ms (heartbeat ${HEARTBEAT_MS} ms), though no report could reach A`);
  await until('tracking live again on fresh connections', () => kvA.tracked!.live, 10_000);
  t.pass('the heartbeat reconnected the listener and tracking resumed');

  // Live again means reports flow again (not a reader re-paired with the dead listener, which
  // Redis lists until its socket finally closes): a change on B reaches A within moments.
  const second = await a.create(fields('ivan', 'token-i2'));
  const secondTicket = { id: second.id, secret: second.secret };
  t.ok(await a.load(secondTicket), 'a new session, confirmed on A');
  const onB2 = (await b.load(secondTicket))!;
  await b.destroy(onB2);
  const endedAt = Date.now();
  await until('A sees the second logout', async () => (await a.load(secondTicket)) === null, 4 * HEARTBEAT_MS + 1_000);
  t.ok(Date.now() - endedAt < HEARTBEAT_MS, `seen through a report (${Date.now() - endedAt} ms), not a heartbeat later`);
});

t.test('tracked reads: a read that fails on the tracked connection is retried on the command connection', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const { a, kv } = await twoReplicas(t, undefined, redis.url);
  const created = await a.create(fields('judy', 'token-j'));
  const ticket = { id: created.id, secret: created.secret };
  // The reader goes away under a live tracker (a reset): its read fails before 'close' is seen.
  (kv.tracked as unknown as { reader: Redis }).reader.disconnect(true);
  t.equal((await a.load(ticket))?.data.at, 'token-j', 'answered from Redis through the command connection, not a 503');
  await until('tracking live again', () => kv.tracked!.live, 10_000);
});
