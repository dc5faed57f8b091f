/**
 * The gateway on Redis: two instances sharing one Redis (login on one, use, refresh and log out on
 * the other), and a Redis stopped and restarted mid-test (protected routes fail closed with 503,
 * `auth: none` keeps serving, everything works again after the restart without restarting the app).
 */
import t from 'tap';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { RedisStore } from '../../src/store/redis.js';
import { startApp } from '../helpers/app.js';
import { freePort, startRedis } from '../helpers/redis-server.js';
import { testRedisStore, uniquePrefix } from '../helpers/store.js';
import { debugLogger, echoOf, gatewayYaml, startStack } from './helpers/stack.js';
import { rawRequest } from './helpers/raw.js';
import { Browser } from './helpers/browser.js';
import { startIssuer } from './helpers/issuer.js';
import { startUpstream } from './helpers/upstream.js';

t.test('two gateway instances share one Redis', async (t) => {
  const prefix = uniquePrefix();
  const kvA = await testRedisStore(prefix);
  const kvB = await testRedisStore(prefix);
  t.teardown(async () => {
    await kvA.close();
    await kvB.close();
  });
  const a = await startStack(t, { kv: kvA });
  // Instance B sits behind the same public URL as A (a load balancer in front of both).
  const b = await startApp(t, gatewayYaml({ issuer: a.issuer, upstream: a.upstream, publicUrl: a.base }), { store: kvB, clock: a.clock, ...debugLogger() });
  await b.app.menshen.readiness.get('issuer')!();

  await a.browser.login(`${a.base}/app/`, 'alice');
  const cookie = `menshen=${a.browser.cookie(a.base, 'menshen')!}`;
  const get = (base: string, path: string) => rawRequest(base, path, { headers: { accept: 'application/json', cookie } });

  const onB = await get(b.base, '/app/x');
  t.equal(onB.status, 200, 'the session made on A works on B');
  t.equal(echoOf(onB).headers['x-auth-request-user'], a.issuer.subOf('alice'));

  const jwksA = await (await fetch(`${a.base}/_menshen/jwks`)).json();
  const jwksB = await (await fetch(`${b.base}/_menshen/jwks`)).json();
  t.same(jwksA, jwksB, 'one assertion key set for every replica (kept in the store)');
  await jwtVerify(String(echoOf(onB).headers['x-menshen-assertion']), createLocalJWKSet(jwksA as never), {
    audience: 'app',
    currentDate: new Date(a.clock.now()),
  });

  a.clock.advance(250_000);
  const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => get(i % 2 ? a.base : b.base, '/api/x')));
  t.same(new Set(burst.map((r) => r.status)), new Set([200]), '50 requests over both instances served');
  t.equal(new Set(burst.map((r) => echoOf(r).headers.authorization)).size, 1, 'all with the one refreshed token');
  t.equal(a.issuer.grants.refresh_token, 1, 'exactly one refresh grant across both replicas');

  const out = await rawRequest(b.base, '/_menshen/logout', { method: 'POST', headers: { accept: 'application/json', cookie } });
  t.equal(out.status, 200, 'log out on B');
  t.equal((await get(a.base, '/app/x')).status, 401, 'ended on A too');
  t.equal((await get(b.base, '/app/x')).status, 401);
});

t.test('Redis stopped and restarted: fail closed, auth: none keeps serving, recovery without restart', async (t) => {
  // appendfsync always: the restarted server still has the session, so the same cookie works after.
  const redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
  t.teardown(() => redis.stop());
  const kv = await RedisStore.connect({ url: redis.url, keyPrefix: 'gw:', tls: false });
  t.teardown(() => kv.close());
  const stack = await startStack(t, { kv });
  await stack.browser.login(`${stack.base}/app/`, 'alice');
  const cookie = `menshen=${stack.browser.cookie(stack.base, 'menshen')!}`;
  const get = (path: string, accept = 'application/json', withCookie = true) =>
    rawRequest(stack.base, path, { headers: { accept, ...(withCookie ? { cookie } : {}) } });
  t.equal((await get('/app/x')).status, 200);

  await redis.kill();
  const api = await get('/app/x');
  t.equal(api.status, 503, 'protected route: 503');
  t.same(JSON.parse(api.body), { error: 'temporarily_unavailable', error_description: 'session store unavailable' });
  const page = await get('/app/x', 'text/html');
  t.equal(page.status, 503, 'browsers get a 503 page, not a login loop');
  t.match(page.body, /Temporarily unavailable/);
  t.equal((await get('/app/x', 'text/html', false)).status, 503, 'starting a login needs the store too: 503');
  t.equal((await get('/open/x')).status, 200, 'auth: none route still served');
  t.equal((await get('/app/public/x')).status, 200, 'public paths still served');
  t.equal((await get('/_menshen/userinfo')).status, 503);
  t.equal((await get('/_menshen/auth')).status, 503, 'forward-auth fails closed');
  const ready = await get('/readyz');
  t.equal(ready.status, 503);
  t.ok(JSON.parse(ready.body).failures.store, 'readiness names the store');
  const metrics = await stack.gw.app.menshen.metrics.registry.getSingleMetricAsString('menshen_store_errors_total');
  t.notMatch(metrics, /menshen_store_errors_total 0$/m, 'store errors counted');

  await redis.restart();
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    status = (await get('/app/x')).status;
    if (status !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(status, 200, 'the same session works again once Redis is back, no app restart');
  t.equal((await get('/readyz')).status, 200);
});

t.test('an issuer that is down at start: the app starts, reports not ready, and recovers', async (t) => {
  const issuerPort = await freePort();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const upstream = await startUpstream(t);
  const issuerInfo = { url: `http://127.0.0.1:${issuerPort}`, clientId: 'gw', clientSecret: 'gw-client-secret-0123456789abcdef' };
  const gw = await startApp(t, gatewayYaml({ issuer: issuerInfo, upstream }), { port, ...debugLogger() });

  const ready = await rawRequest(base, '/readyz');
  t.equal(ready.status, 503, 'not ready');
  t.match(JSON.parse(ready.body).failures, { issuer: /unavailable/ });
  const page = await rawRequest(base, '/app/x', { headers: { accept: 'text/html' } });
  t.equal(page.status, 503, 'a login cannot start: 503, not a crash');
  t.equal((await rawRequest(base, '/open/x')).status, 200, 'auth: none routes serve meanwhile');

  await startIssuer(t, { gatewayBases: [base], port: issuerPort });
  await gw.app.menshen.readiness.get('issuer')!();
  t.equal((await rawRequest(base, '/readyz')).status, 200, 'ready once the issuer answers');
  const b = new Browser();
  t.equal((await b.login(`${base}/app/`, 'alice')).status, 200, 'and logins work');
});
