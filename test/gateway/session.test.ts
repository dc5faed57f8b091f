/**
 * Sessions: sealed in the store (no token readable there, small), garbage and forged cookies,
 * absolute and idle expiry on the injected clock, transparent refresh (exactly one refresh grant
 * for 50 parallel requests), invalid_grant ends the session, a network error keeps it until its
 * access token really expires.
 */
import t from 'tap';
import { Signer } from '@fastify/cookie';
import { COOKIE_SECRET, echoOf, startStack, type Stack } from './helpers/stack.js';
import { Browser } from './helpers/browser.js';
import { rawRequest } from './helpers/raw.js';
import { MemoryStore } from '../../src/store/memory.js';
import { PRUNE_SAMPLE, SessionStore } from '../../src/gateway/session/store.js';

const ticketOf = (stack: Stack, browser: Browser) => {
  const value = browser.cookie(stack.base, 'menshen')!;
  const [id, secret] = value.split('.');
  return { value, id: id!, secret: secret! };
};
const apiGet = (stack: Stack, path: string, cookie?: string) =>
  rawRequest(stack.base, path, { headers: { accept: 'application/json', ...(cookie ? { cookie } : {}) } });
const bearerOf = (res: { body: string }) => String(echoOf(res).headers.authorization).replace(/^Bearer /, '');

t.test('the store holds a sealed, small session: no token or claim readable there', async (t) => {
  const stack = await startStack(t);
  await stack.browser.login(`${stack.base}/app/`, 'alice');
  const ticket = ticketOf(stack, stack.browser);
  const api = await apiGet(stack, '/api/x', `menshen=${ticket.value}`);
  const accessToken = bearerOf(api);
  t.ok(accessToken.length > 20, 'the upstream saw the access token');

  const box = await stack.gw.store.get(`gw:sess:{${ticket.id}}`);
  t.ok(box, 'the session is in the store under its hash-tagged key');
  t.notOk(box!.includes(accessToken), 'the access token is not readable in the store');
  t.notOk(box!.includes('alice'), 'no claim readable either');
  t.notOk(box!.includes(ticket.secret), 'nor the per-session secret');
  t.ok(box!.length <= 3072, `≤ 3 KB in the store (${box!.length} bytes)`);
  const ttl = await stack.gw.store.ttl(`gw:sess:{${ticket.id}}`);
  t.ok(ttl > 3500 && ttl <= 3600, `the key lives for the idle window (${ttl} s), capped by the absolute one`);
  t.same(await stack.gw.store.smembers(`gw:sub:{${stack.issuer.subOf('alice')}}`), [ticket.id], 'indexed by sub for back-channel logout');
});

t.test('a lost, garbage or forged cookie means a fresh login, never a 500', async (t) => {
  const stack = await startStack(t);
  await stack.browser.login(`${stack.base}/app/`, 'alice');
  const good = ticketOf(stack, stack.browser);
  const signer = new Signer(COOKIE_SECRET);
  const otherSigner = new Signer('another-secret-that-is-long-enough-0123456789');
  const garbage = [
    'garbage',
    '',
    '...',
    'a.b.c',
    `${good.id}.${good.secret}`,
    `${good.id}.${good.secret}.AAAA`,
    otherSigner.sign(`${good.id}.${good.secret}`),
    signer.sign(`${good.id}.${'A'.repeat(43)}`),
    signer.sign(`${'B'.repeat(22)}.${good.secret}`),
    signer.sign('not-a-ticket'),
    signer.sign(`${good.id}.${good.secret}.extra`),
    '%zz%00\u00ff',
    'x'.repeat(6000),
  ];
  for (const value of garbage) {
    const api = await rawRequest(stack.base, '/app/x', { headers: { accept: 'application/json', cookie: `menshen=${value}` } });
    t.equal(api.status, 401, `API: ${value.slice(0, 40)}`);
    const page = await rawRequest(stack.base, '/app/x', { headers: { accept: 'text/html', cookie: `menshen=${value}` } });
    t.equal(page.status, 302, `browser: ${value.slice(0, 40)} -> login`);
  }
  t.equal((await apiGet(stack, '/app/x', `menshen=${good.value}`)).status, 200, 'the real one still works');
  await stack.gw.store.del(`gw:sess:{${good.id}}`);
  t.equal((await apiGet(stack, '/app/x', `menshen=${good.value}`)).status, 401, 'a session lost from the store: login again');
});

t.test('absolute expiry ends the session whatever the activity', async (t) => {
  const stack = await startStack(t, { issuer: { accessTtl: 86_400 } });
  await stack.browser.login(`${stack.base}/app/`, 'alice');
  const cookie = `menshen=${ticketOf(stack, stack.browser).value}`;
  stack.clock.advance(28_800_000 - 5_000);
  t.equal((await apiGet(stack, '/app/x', cookie)).status, 200, 'just before the 8 h ttl');
  stack.clock.advance(10_000);
  t.equal((await apiGet(stack, '/app/x', cookie)).status, 401, 'after it');
});

t.test('idle expiry: an idle session ends, activity slides the window (memory store on the injected clock)', async (t) => {
  const stack = await startStack(t, { store: 'memory', issuer: { accessTtl: 86_400 } });
  const a = new Browser();
  await a.login(`${stack.base}/app/`, 'alice');
  const active = `menshen=${ticketOf(stack, a).value}`;
  const b = new Browser();
  await b.login(`${stack.base}/app/`, 'bob');
  const idle = `menshen=${ticketOf(stack, b).value}`;

  stack.clock.advance(3_000_000);
  t.equal((await apiGet(stack, '/app/x', active)).status, 200, 'active at 50 min (slides the window)');
  stack.clock.advance(1_000_000);
  t.equal((await apiGet(stack, '/app/x', idle)).status, 401, 'idle for 66 min: ended');
  t.equal((await apiGet(stack, '/app/x', active)).status, 200, 'active one: 16 min since its last request');
  stack.clock.advance(3_700_000);
  t.equal((await apiGet(stack, '/app/x', active)).status, 401, 'then idle for 61 min: ended');
});

t.test('50 parallel requests near expiry make exactly ONE refresh grant at the issuer', async (t) => {
  const stack = await startStack(t);
  await stack.browser.login(`${stack.base}/app/`, 'alice');
  const cookie = `menshen=${ticketOf(stack, stack.browser).value}`;
  const before = bearerOf(await apiGet(stack, '/api/x', cookie));
  t.equal(stack.issuer.grants.refresh_token ?? 0, 0);

  stack.clock.advance(250_000); // 300 s token, refreshBefore 60: now inside the window
  const results = await Promise.all(Array.from({ length: 50 }, () => apiGet(stack, '/api/x', cookie)));
  t.same(new Set(results.map((r) => r.status)), new Set([200]), 'all 50 served');
  const tokens = new Set(results.map(bearerOf));
  t.equal(tokens.size, 1, 'all carry the same token');
  t.not([...tokens][0], before, 'the refreshed one');
  t.equal(stack.issuer.grants.refresh_token, 1, 'exactly one refresh grant counted at the issuer');

  const again = await apiGet(stack, '/api/x', cookie);
  t.equal(bearerOf(again), [...tokens][0], 'no further refresh while the new token is fresh');
  t.equal(stack.issuer.grants.refresh_token, 1);
  const metrics = await stack.gw.app.menshen.metrics.registry.getSingleMetricAsString('menshen_session_refreshes_total');
  t.match(metrics, /outcome="success"} 1/);
});

t.test('invalid_grant on refresh ends the session: browsers log in again, APIs get 401', async (t) => {
  const stack = await startStack(t);
  await stack.browser.login(`${stack.base}/app/`, 'alice');
  const ticket = ticketOf(stack, stack.browser);
  await stack.issuer.revokeAllGrants();
  stack.clock.advance(250_000);
  const page = await rawRequest(stack.base, '/app/x', { headers: { accept: 'text/html', cookie: `menshen=${ticket.value}` } });
  t.equal(page.status, 302, 'browser: to the issuer');
  t.match(String(page.headers.location), new RegExp(`^${stack.issuer.url}/auth\\?`));
  t.equal(await stack.gw.store.get(`gw:sess:{${ticket.id}}`), null, 'the session is gone from the store');
  t.equal((await apiGet(stack, '/app/x', `menshen=${ticket.value}`)).status, 401);
  const metrics = await stack.gw.app.menshen.metrics.registry.getSingleMetricAsString('menshen_session_refreshes_total');
  t.match(metrics, /outcome="invalid_grant"} 1/);
});

t.test('a logout while a refresh is at the issuer wins: the session stays ended, the new refresh token is revoked', async (t) => {
  const stack = await startStack(t);
  await stack.browser.login(`${stack.base}/app/`, 'alice');
  const ticket = ticketOf(stack, stack.browser);
  const cookie = `menshen=${ticket.value}`;
  stack.clock.advance(250_000); // inside refreshBefore: the next request refreshes
  const held = stack.issuer.holdTokenEndpoint();
  const during = apiGet(stack, '/api/x', cookie);
  await held.arrived; // the refresh grant is at the issuer now
  const out = await rawRequest(stack.base, '/_menshen/logout', { method: 'POST', headers: { accept: 'application/json', cookie } });
  t.equal(out.status, 200, 'logged out meanwhile');
  const revokedBefore = stack.issuer.revocations.count;
  held.release();
  t.equal((await during).status, 401, 'the request that was refreshing finds the session ended');
  t.equal(await stack.gw.store.get(`gw:sess:{${ticket.id}}`), null, 'the refresh did not write the session back');
  t.equal((await apiGet(stack, '/app/x', cookie)).status, 401, 'the cookie stays logged out');
  t.equal(stack.issuer.grants.refresh_token, 1, 'the issuer did answer the refresh');
  t.equal(stack.issuer.revocations.count, revokedBefore + 1, 'and its new refresh token was revoked');
  const metrics = await stack.gw.app.menshen.metrics.registry.getSingleMetricAsString('menshen_session_refreshes_total');
  t.match(metrics, /outcome="ended"} 1/);
});

t.test("a user's session index holds live sessions only: expired ones are pruned at the next login", async (t) => {
  const stack = await startStack(t);
  const index = `gw:sub:{${stack.issuer.subOf('alice')}}`;
  for (let i = 0; i < 4; i++) {
    const b = new Browser();
    await b.login(`${stack.base}/app/`, 'alice');
    // What the key's TTL does when a session idles out: the store forgets it, nobody calls destroy.
    await stack.gw.store.del(`gw:sess:{${ticketOf(stack, b).id}}`);
  }
  const keep = new Browser();
  await keep.login(`${stack.base}/app/`, 'alice');
  const ids = await stack.gw.store.smembers(index);
  t.same(ids, [ticketOf(stack, keep).id], 'only the live session is listed');
});

t.test("pruning a user's index costs a bounded number of store calls per login, and still drains it", async (t) => {
  const kv = new MemoryStore();
  const sessions = new SessionStore(kv, { now: () => Date.now() }, { ttl: 3600, idleTtl: 3600 });
  const index = 'gw:sub:{u-many}';
  // 500 dead sessions in the index (their keys gone, as after idle expiry).
  for (let i = 0; i < 500; i++) await kv.sadd(index, `dead-${i}`, 3600);
  let ttlCalls = 0;
  const ttl = kv.ttl.bind(kv);
  kv.ttl = (key: string) => {
    ttlCalls++;
    return ttl(key);
  };
  await sessions.create({ claims: { sub: 'u-many' } });
  t.equal(ttlCalls, PRUNE_SAMPLE, `one login checks ${PRUNE_SAMPLE} ids, not 500`);
  t.equal((await kv.smembers(index)).length, 500 - PRUNE_SAMPLE + 1, 'and drops the dead ones it checked');
  for (let i = 0; i < 10; i++) await sessions.create({ claims: { sub: 'u-many' } });
  const left = await kv.smembers(index);
  t.equal(left.length, 11, 'a few logins later only the live sessions are listed');
  t.ok(left.every((id) => !id.startsWith('dead-')));
});

t.test('a network error on refresh keeps the session until its access token really expires', async (t) => {
  const stack = await startStack(t);
  await stack.browser.login(`${stack.base}/app/`, 'alice');
  const cookie = `menshen=${ticketOf(stack, stack.browser).value}`;
  const first = bearerOf(await apiGet(stack, '/api/x', cookie));
  await stack.issuer.stop();
  stack.clock.advance(250_000);
  const during = await apiGet(stack, '/api/x', cookie);
  t.equal(during.status, 200, 'still served: the token has 50 s left');
  t.equal(bearerOf(during), first, 'with the old token');
  stack.clock.advance(100_000);
  const expired = await apiGet(stack, '/api/x', cookie);
  t.equal(expired.status, 503, 'the token expired and the issuer is down: 503, session kept');
  await stack.issuer.start();
  const after = await apiGet(stack, '/api/x', cookie);
  t.equal(after.status, 200, 'the issuer is back: refreshed');
  t.not(bearerOf(after), first);
  const metrics = await stack.gw.app.menshen.metrics.registry.getSingleMetricAsString('menshen_session_refreshes_total');
  t.match(metrics, /outcome="error"}/);
});

t.test('a cookie signed with a rotated-out secret still works and is re-issued under the current one', async (t) => {
  const NEW = 'the-new-cookie-secret-0123456789abcdef';
  const stack = await startStack(t, { sessionSecret: [NEW, COOKIE_SECRET] });
  await stack.browser.login(`${stack.base}/app/`, 'alice');
  const ticket = ticketOf(stack, stack.browser);
  t.ok(new Signer(NEW).unsign(ticket.value).valid, 'new cookies are signed with the first secret');
  const oldSigned = new Signer(COOKIE_SECRET).sign(`${ticket.id}.${ticket.secret}`);
  const res = await rawRequest(stack.base, '/app/set-cookie', { headers: { accept: 'application/json', cookie: `menshen=${oldSigned}` } });
  t.equal(res.status, 200, 'the old signature still verifies');
  const setCookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  t.ok(setCookies.includes('app=1; Path=/'), "the app's own Set-Cookie passes");
  const renewed = setCookies.find((c) => c.startsWith('menshen='));
  t.ok(renewed, 're-issued');
  t.ok(new Signer(NEW).unsign(renewed!.split(';')[0]!.slice('menshen='.length)).valid, 'signed with the current secret');
  t.match(renewed, /Max-Age=\d+; HttpOnly; SameSite=Lax/);
  const current = await rawRequest(stack.base, '/app/x', { headers: { accept: 'application/json', cookie: `menshen=${ticket.value}` } });
  t.notOk(current.headers['set-cookie'], 'a current cookie is not re-issued');
});
