/**
 * The in-process caches of the gateway hot path (session/store.ts, session/cookies.ts) change
 * nothing but speed: on a real Redis shared by two SessionStores (two replicas), a value
 * rewritten or deleted by one is seen by the other on its next load, a wrong secret never opens
 * a cached session, callers' changes to a loaded session never reach the cache, the cache bound
 * only costs unseals, and a cookie whose signature does not verify is refused even for a session
 * id whose genuine cookie was verified before.
 */
import t, { type Test } from 'tap';
import { ManualClock } from '../../src/clock.js';
import { GatewayCookies } from '../../src/gateway/session/cookies.js';
import { SessionStore, sessionKey } from '../../src/gateway/session/store.js';
import type { SessionData } from '../../src/gateway/session/session.js';
import { testRedisStore, uniquePrefix } from '../helpers/store.js';

const TIMES = { ttl: 28_800, idleTtl: 3_600 };
const fields = (sub: string, at: string): Omit<SessionData, 'v' | 'exp' | 'w'> => ({
  claims: { sub, preferred_username: sub, groups: ['staff'] },
  at,
  atExp: Math.floor(Date.now() / 1000) + 3_600,
  rt: `rt-${sub}`,
  idt: `idt-${sub}`,
});

async function twoReplicas(t: Test, maxUnsealed?: number) {
  const prefix = uniquePrefix();
  const [kvA, kvB] = await Promise.all([testRedisStore(prefix), testRedisStore(prefix)]);
  t.teardown(() => Promise.all([kvA.close(), kvB.close()]));
  const clock = new ManualClock();
  return {
    kv: kvA,
    a: new SessionStore(kvA, clock, TIMES, maxUnsealed),
    b: new SessionStore(kvB, clock, TIMES, maxUnsealed),
  };
}

t.test('a session rewritten or ended by another replica is seen at once', async (t) => {
  const { a, b } = await twoReplicas(t);
  const created = await a.create(fields('alice', 'token-1'));
  const ticket = { id: created.id, secret: created.secret };
  t.equal((await a.load(ticket))?.data.at, 'token-1', 'replica A reads (and caches) its session');

  const onB = await b.loadVersioned(ticket);
  t.ok(onB, 'replica B reads the same session');
  onB!.session.data.at = 'token-2';
  t.ok(await b.saveIfUnchanged(onB!.session, onB!.box), 'B rewrites it (a refresh)');
  t.equal((await a.load(ticket))?.data.at, 'token-2', 'A sees the new tokens, not its cached ones');

  await b.destroy(onB!.session);
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
  const { a, kv } = await twoReplicas(t);
  const created = await a.create(fields('dave', 'token-d'));
  const ticket = { id: created.id, secret: created.secret };
  t.ok(await a.load(ticket));
  const box = (await kv.get(sessionKey(created.id)))!;
  // A value of another session (new IV and tag) put under this id: sealed with the id as
  // associated data and another key, so it does not open.
  const other = await a.create(fields('eve', 'token-e'));
  await kv.set(sessionKey(created.id), (await kv.get(sessionKey(other.id)))!, 60);
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
