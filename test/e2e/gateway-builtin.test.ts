/**
 * The gateway with menshen's own built-in provider, in the example config's shape (issuer =
 * {publicUrl}/idp, client 'demo'): login at the provider's page, identity upstream, the relying
 * party's back-channel calls answered in-process (proven by an app that does not even listen),
 * one refresh grant for a burst, RP-initiated and back-channel logout.
 */
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { configFromYaml } from '../../src/config/load.js';
import { ManualClock } from '../../src/clock.js';
import { startApp, type RunningApp } from '../helpers/app.js';
import { builtinYaml, signIn } from '../gateway/helpers/builtin.js';
import { Browser } from '../gateway/helpers/browser.js';
import { injectTransport } from '../gateway/helpers/inject-transport.js';
import { rawRequest } from '../gateway/helpers/raw.js';
import { debugLogger, echoOf } from '../gateway/helpers/stack.js';
import { startUpstream } from '../gateway/helpers/upstream.js';

async function waitFor(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

t.test('login at the built-in provider: identity upstream, policy, in-process back channel', async (t) => {
  const upstream = await startUpstream(t);
  const clock = new ManualClock();
  const gw: RunningApp = await startApp(t, builtinYaml(upstream.url), { clock, ...debugLogger() });
  await gw.app.menshen.readiness.get('issuer')!();

  const alice = new Browser();
  const page = await signIn(alice, `${gw.base}/reports?year=2024`, 'alice');
  t.equal(page.status, 200);
  t.equal(page.url, `${gw.base}/reports?year=2024`);
  const h = echoOf(page).headers;
  t.equal(h['x-auth-request-preferred-username'], 'alice');
  t.equal(h['x-auth-request-email'], 'alice@example.com');
  t.equal(h['x-auth-request-groups'], 'staff');
  t.equal(h['x-remote-user'], 'alice');
  t.match(h.authorization, /^Bearer /, 'passAccessToken');
  t.notOk(String(h.cookie ?? '').includes('menshen'), "neither the gateway's nor the provider's cookies reach the app");

  const id = alice.cookie(gw.base, 'menshen')!.split('.')[0]!;
  const stored = (await gw.store.get(`gw:sess:{${id}}`))!;
  t.ok(stored.length <= 3072, `a session with RS256 access and id tokens is ≤ 3 KB in Redis (${stored.length} bytes)`);

  const bob = new Browser();
  const denied = await signIn(bob, `${gw.base}/reports`, 'bob');
  t.equal(denied.status, 403, 'bob is not staff');

  // Refresh: 50 parallel requests inside refreshBefore make one refresh grant at the provider.
  const cookie = `menshen=${alice.cookie(gw.base, 'menshen')!}`;
  clock.advance(250_000);
  const burst = await Promise.all(Array.from({ length: 50 }, () => rawRequest(gw.base, '/api', { headers: { accept: 'application/json', cookie } })));
  t.same(new Set(burst.map((r) => r.status)), new Set([200]));
  t.equal(new Set(burst.map((r) => echoOf(r).headers.authorization)).size, 1);
  t.not(echoOf(burst[0]!).headers.authorization, h.authorization, 'a new access token');
  const grants = await gw.app.menshen.metrics.registry.getSingleMetricAsString('menshen_token_grants_total');
  t.match(grants, /grant_type="refresh_token",error=""} 1$/m, 'exactly one refresh grant at the provider');
});

t.test("the relying party's calls never leave the process (the app does not even listen)", async (t) => {
  const upstream = await startUpstream(t);
  // A public URL that does not resolve: discovery, token, JWKS over the network would fail.
  const yaml = builtinYaml(upstream.url, 'memory').replaceAll('{{BASE}}', 'http://gw.example.test');
  const app = await buildApp(configFromYaml(yaml, {}), { logger: false });
  t.teardown(() => app.close());
  await app.ready();
  await app.menshen.readiness.get('issuer')!();
  const b = new Browser(injectTransport(app));
  const page = await signIn(b, 'http://gw.example.test/x', 'alice');
  t.equal(page.status, 200);
  t.equal(echoOf(page).headers['x-auth-request-preferred-username'], 'alice');
});

t.test('logout through the gateway logs out at the provider; the provider logs the gateway out by back channel', async (t) => {
  const upstream = await startUpstream(t);
  const gw = await startApp(t, builtinYaml(upstream.url), debugLogger());
  await gw.app.menshen.readiness.get('issuer')!();
  const status = async (b: Browser) =>
    (await rawRequest(gw.base, '/x', { headers: { accept: 'application/json', cookie: `menshen=${b.cookie(gw.base, 'menshen') ?? 'none'}` } })).status;

  const one = new Browser();
  await signIn(one, `${gw.base}/x`, 'alice');
  const out = await one.request(`${gw.base}/_menshen/logout`, {
    method: 'POST',
    body: 'rd=/bye',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: gw.base },
  });
  const endSession = new URL(out.headers.get('location')!);
  t.equal(endSession.pathname, '/idp/logout', "to the provider's end-session endpoint");
  t.ok(endSession.searchParams.get('id_token_hint'), 'RP-initiated logout with id_token_hint');
  const back = await one.request(endSession.href);
  t.equal(back.headers.get('location'), `${gw.base}/bye`, 'the provider sends the browser back to rd');
  t.equal(await status(one), 401);
  const again = await one.navigate(`${gw.base}/x`);
  t.match(again.url, /\/idp\/login/, 'the provider session ended too: its login form again');

  // Signed out at the provider directly (another app's logout): back-channel logout ends ours.
  const two = new Browser();
  await signIn(two, `${gw.base}/x`, 'alice');
  t.equal(await status(two), 200);
  await two.navigate(`${gw.base}/idp/logout?client_id=demo`);
  t.ok(await waitFor(async () => (await status(two)) === 401), 'the gateway session ended by back-channel logout');
});
