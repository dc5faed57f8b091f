/**
 * The proxy through real listeners: identity headers (spoofed copies gone in every spelling, the
 * right ones present), the gateway's cookies never forwarded, path tricks against a protected
 * prefix beside public ones, auth modes and policy, bodies, upstream failures, reload.
 */
import t from 'tap';
import { createServer } from 'node:net';
import { jwtVerify, createLocalJWKSet } from 'jose';
import { echoOf, startStack } from './helpers/stack.js';
import { Browser } from './helpers/browser.js';
import { rawRequest } from './helpers/raw.js';
import { configFromYaml } from '../../src/config/load.js';

t.test('proxy', async (t) => {
  const stack = await startStack(t);
  const { base, issuer, upstream } = stack;
  const alice = new Browser();
  t.equal((await alice.login(`${base}/app/`, 'alice')).status, 200);
  // Only the gateway's cookie: the jar also holds the issuer's (same host, another port).
  const aliceCookie = `menshen=${alice.cookie(base, 'menshen')!}`;
  const bob = new Browser();
  t.equal((await bob.login(`${base}/app/`, 'bob')).status, 200);
  const bobCookie = `menshen=${bob.cookie(base, 'menshen')!}`;
  const api = (cookie?: string, extra: Record<string, string> = {}) => ({ accept: 'application/json', ...(cookie ? { cookie } : {}), ...extra });

  const SPOOFS: Record<string, string> = {
    'X-Auth-Request-User': 'mallory',
    'x_auth_request_user': 'mallory',
    'X.Auth.Request.User': 'mallory',
    'X-AUTH-REQUEST-EMAIL': 'mallory@evil.example',
    'X-Auth-Request-Groups': 'admin',
    'X_Auth_Request_Preferred_Username': 'mallory',
    'X-Auth-Request-Redirect': 'https://evil.example',
    'X-Forwarded-User': 'mallory',
    'X_Forwarded_Email': 'mallory@evil.example',
    'x.forwarded.groups': 'admin',
    'X-Forwarded-Preferred-Username': 'mallory',
    'X-Forwarded-Access-Token': 'forged',
    'X-Menshen-Assertion': 'forged.jwt.value',
    'X_Menshen_Assertion': 'forged',
    'X-Remote-User': 'mallory',
    'x_remote.user': 'mallory',
    'X-Remote-Groups': 'admin',
  };

  t.test('spoofed identity headers are gone in every spelling; the real ones are there', async (t) => {
    const res = await rawRequest(base, '/app/who', { headers: { ...api(aliceCookie), ...SPOOFS } });
    t.equal(res.status, 200);
    const echo = JSON.parse(res.body) as { headers: Record<string, string> };
    const h = echo.headers;
    for (const [name, value] of Object.entries(h)) {
      if (/mallory|admin|evil|forged/.test(String(value))) t.fail(`spoofed ${name}: ${value} reached the upstream`);
    }
    for (const name of Object.keys(SPOOFS)) {
      const lower = name.toLowerCase();
      if (lower.includes('_') || lower.includes('.')) t.notOk(lower in h, `${name} variant removed`);
    }
    t.equal(h['x-auth-request-user'], issuer.subOf('alice'));
    t.equal(h['x-auth-request-email'], 'alice@example.com');
    t.equal(h['x-auth-request-groups'], 'staff');
    t.equal(h['x-auth-request-preferred-username'], 'alice');
    t.equal(h['x-forwarded-user'], issuer.subOf('alice'));
    t.equal(h['x-forwarded-email'], 'alice@example.com');
    t.equal(h['x-remote-user'], 'alice');
    t.equal(h['x-remote-groups'], 'staff');
    t.notOk('x-auth-request-redirect' in h);
    t.notOk('x-forwarded-access-token' in h);

    const jwks = (await (await fetch(`${base}/_menshen/jwks`)).json()) as { keys: Array<{ kty: string; d?: string }> };
    t.equal(jwks.keys[0]!.kty, 'EC', 'ES256 keys');
    t.notOk(jwks.keys[0]!.d, 'public keys only');
    const { payload, protectedHeader } = await jwtVerify(h['x-menshen-assertion']!, createLocalJWKSet(jwks as never), {
      issuer: base,
      audience: 'app',
      currentDate: new Date(stack.clock.now()),
    });
    t.equal(protectedHeader.alg, 'ES256');
    t.equal(payload.sub, issuer.subOf('alice'));
    t.equal((payload.exp as number) - (payload.iat as number), 60, '60 s lifetime');
  });

  t.test('spoofed headers are stripped on auth: none routes and public paths too', async (t) => {
    for (const path of ['/open/x', '/app/public/x']) {
      const res = await rawRequest(base, path, { headers: { ...api(), ...SPOOFS } });
      t.equal(res.status, 200, path);
      const h = (JSON.parse(res.body) as { headers: Record<string, string> }).headers;
      for (const [name, value] of Object.entries(h)) {
        if (/mallory|admin|evil|forged/.test(String(value))) t.fail(`${path}: spoofed ${name} reached the upstream`);
      }
      t.notOk(h['x-auth-request-user'], `${path}: no identity injected`);
    }
  });

  t.test("the gateway's cookies never reach the upstream; the app's own do", async (t) => {
    const res = await rawRequest(base, '/app/cookies', { headers: api(`app=1; ${aliceCookie}; menshen-login=abc; other=2`) });
    t.equal(res.status, 200);
    t.equal((JSON.parse(res.body) as { headers: Record<string, string> }).headers.cookie, 'app=1; other=2');
    const only = await rawRequest(base, '/app/cookies', { headers: api(aliceCookie) });
    t.notOk('cookie' in (JSON.parse(only.body) as { headers: Record<string, string> }).headers, 'no empty Cookie header');
    const open = await rawRequest(base, '/open/cookies', { headers: api(`${aliceCookie}; app=1`) });
    t.equal((JSON.parse(open.body) as { headers: Record<string, string> }).headers.cookie, 'app=1', 'also on auth: none routes');
  });

  t.test('X-Forwarded-* are the gateway\'s word, not the client\'s (trustProxy: false)', async (t) => {
    const res = await rawRequest(base, '/open/fwd', { headers: api(undefined, { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }) });
    const h = (JSON.parse(res.body) as { headers: Record<string, string> }).headers;
    t.equal(h['x-forwarded-for'], '127.0.0.1');
    t.equal(h['x-forwarded-proto'], 'http');
    t.equal(h['x-forwarded-host'], new URL(base).host);
  });

  t.test('path tricks against a protected prefix beside public ones', async (t) => {
    const before = upstream.received.length;
    const refused: Array<[string, number[]]> = [
      ['/app/public/../secret', [401]],
      ['/app/public/%2e%2e/secret', [401]],
      ['/app/public/%2E%2E/secret', [401]],
      ['/app/public/.%2e/secret', [401]],
      ['/app/public/./../secret', [401]],
      ['/app/public//../secret', [401]],
      ['/open/../app/secret', [401]],
      ['/open/%2e%2e/app/secret', [401]],
      ['/open/./../app/secret', [401]],
      ['//app/secret', [401]],
      ['/app//secret', [401]],
      ['/open/..%2fapp/secret', [400]],
      ['/open/..%2Fapp/secret', [400]],
      ['/open/..%5capp/secret', [400]],
      ['/open/..\\app/secret', [400]],
      ['/app/public/..;/secret', [400]],
      ['/app/public;x=1/../secret', [400]],
      ['/open%2f../app/secret', [400]],
      ['/open/%252e%252e/app/secret', [400]],
      ['/open/%c0%ae%c0%ae/app/secret', [400]],
      ['/open/%00/../app/secret', [400]],
      ['/open/..', [401, 404]],
      ['/open/../../app', [400]],
      ['/%61pp/secret', [401]],
      ['/app/public', [401]],
    ];
    for (const [path, statuses] of refused) {
      const res = await rawRequest(base, path, { headers: api() });
      t.ok(statuses.includes(res.status), `${path} -> ${res.status}`);
    }
    t.equal(upstream.received.length, before, 'none of them reached the upstream');

    const passed: Array<[string, string]> = [
      ['/app/public/x', '/app/public/x'],
      ['/app/public/./x', '/app/public/x'],
      ['/app/public//x', '/app/public/x'],
      ['/app/public/%78', '/app/public/x'],
      ['/app/public/x?next=/app/secret&y=%2F..', '/app/public/x?next=/app/secret&y=%2F..'],
      ['/open/a/../b', '/open/b'],
    ];
    for (const [path, forwarded] of passed) {
      const res = await rawRequest(base, path, { headers: api() });
      t.equal(res.status, 200, path);
      t.equal((JSON.parse(res.body) as { url: string }).url, forwarded, `${path} is forwarded as ${forwarded}`);
    }
  });

  t.test('policy: allowed groups get through, others get 403 (HTML for browsers, JSON for APIs)', async (t) => {
    t.equal((await rawRequest(base, '/staff/x', { headers: api(aliceCookie) })).status, 200);
    const denied = await rawRequest(base, '/staff/x', { headers: api(bobCookie) });
    t.equal(denied.status, 403);
    t.equal((JSON.parse(denied.body) as { error: string }).error, 'access_denied');
    const page = await rawRequest(base, '/staff/x', { headers: { cookie: bobCookie, accept: 'text/html' } });
    t.equal(page.status, 403);
    t.match(page.headers['content-type'], /text\/html/);
    t.match(page.body, /Access denied/);
    const trick = await rawRequest(base, '/open/../staff/x', { headers: api(bobCookie) });
    t.equal(trick.status, 403, 'no spelling escapes the policy');
  });

  t.test('auth: optional passes anonymous requests without identity, signed-in ones with it', async (t) => {
    const anon = await rawRequest(base, '/maybe/x', { headers: api() });
    t.equal(anon.status, 200);
    t.notOk((JSON.parse(anon.body) as { headers: Record<string, string> }).headers['x-auth-request-user']);
    const signed = await rawRequest(base, '/maybe/x', { headers: api(aliceCookie) });
    t.equal((JSON.parse(signed.body) as { headers: Record<string, string> }).headers['x-auth-request-user'], issuer.subOf('alice'));
  });

  t.test('passAccessToken sends the session access token, never the client\'s own Authorization', async (t) => {
    const res = await rawRequest(base, '/api/x', { headers: api(aliceCookie, { authorization: 'Basic bWFsbG9yeTpwdw==' }) });
    t.equal(res.status, 200);
    const auth = (JSON.parse(res.body) as { headers: Record<string, string> }).headers.authorization;
    t.match(auth, /^Bearer \S+$/);
    t.notMatch(auth, /Basic/);
    const other = await rawRequest(base, '/app/x', { headers: api(aliceCookie, { authorization: 'Basic bWFsbG9yeTpwdw==' }) });
    t.equal((JSON.parse(other.body) as { headers: Record<string, string> }).headers.authorization, 'Basic bWFsbG9yeTpwdw==', 'without passAccessToken the app sees its own');
  });

  t.test('request bodies are streamed upstream unchanged, beyond the body limit too', async (t) => {
    const form = await rawRequest(base, '/app/form', { method: 'POST', body: 'a=1&b=%20', headers: api(aliceCookie, { 'content-type': 'application/x-www-form-urlencoded' }) });
    t.equal(echoOf(form).body, 'a=1&b=%20');
    t.equal(echoOf(form).method, 'POST');
    const json = '{"z": 1,  "a": [2]}';
    const j = await rawRequest(base, '/app/json', { method: 'PUT', body: json, headers: api(aliceCookie, { 'content-type': 'application/json' }) });
    t.equal(echoOf(j).body, json, 'JSON bytes untouched (not re-serialized)');
    const big = 'x'.repeat(300_000);
    const b = await rawRequest(base, '/app/upload', { method: 'POST', body: big, headers: api(aliceCookie, { 'content-type': 'application/octet-stream' }) });
    t.equal(b.status, 200);
    t.equal(echoOf(b).body.length, big.length);
    const anon = await rawRequest(base, '/app/form', { method: 'POST', body: 'a=1', headers: api(undefined, { 'content-type': 'application/x-www-form-urlencoded' }) });
    t.equal(anon.status, 401, 'a POST is authenticated like a GET');
  });

  t.test("the upstream's responses and headers come back; HEAD works", async (t) => {
    const res = await rawRequest(base, '/app/set-cookie', { headers: api(aliceCookie) });
    t.equal(res.headers['set-cookie']?.[0], 'app=1; Path=/');
    const head = await rawRequest(base, '/app/x', { method: 'HEAD', headers: api(aliceCookie) });
    t.equal(head.status, 200);
  });

  t.test("the gateway's own paths and unknown paths are never proxied", async (t) => {
    const before = upstream.received.length;
    for (const path of ['/_menshen/nothing', '//_menshen/userinfo', '/_menshen/../_menshen/x', '/nowhere']) {
      const res = await rawRequest(base, path, { headers: api(aliceCookie) });
      t.equal(res.status, 404, path);
    }
    // fastify's router decodes %5f itself and serves the gateway's own endpoint: still not proxied.
    t.equal((await rawRequest(base, '/%5fmenshen/userinfo', { headers: api(aliceCookie) })).status, 200);
    t.equal(upstream.received.length, before);
  });

  t.test('an upstream that is down gives 502, not 500', async (t) => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const deadPort = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const current = stack.gw.app.menshen.config;
    const dead = { name: 'dead', match: { pathPrefix: '/dead' }, upstream: `http://127.0.0.1:${deadPort}` };
    // JSON is YAML: the running config plus one route, validated like a reloaded file.
    const next = configFromYaml(JSON.stringify({ ...current, gateway: { ...current.gateway, routes: [dead, ...current.gateway!.routes] } }));
    for (const reload of stack.gw.app.menshen.reloaders) await reload(next);
    const res = await rawRequest(base, '/dead/x', { headers: api(aliceCookie) });
    t.equal(res.status, 502);
    t.equal((JSON.parse(res.body) as { error: string }).error, 'bad_gateway');
  });

  t.test('a reload swaps the route table live; removing the gateway is refused', async (t) => {
    const current = stack.gw.app.menshen.config;
    const without = configFromYaml(JSON.stringify({ ...current, gateway: { ...current.gateway, routes: current.gateway!.routes.filter((r) => r.name !== 'open') } }));
    for (const reload of stack.gw.app.menshen.reloaders) await reload(without);
    t.equal((await rawRequest(base, '/open/x', { headers: api() })).status, 404, 'route gone');
    const withIt = configFromYaml(JSON.stringify(current));
    for (const reload of stack.gw.app.menshen.reloaders) await reload(withIt);
    t.equal((await rawRequest(base, '/open/x', { headers: api() })).status, 200, 'route back');
    const { gateway: _removed, ...withoutGateway } = current;
    const gone = configFromYaml(JSON.stringify(withoutGateway));
    const refusals = await Promise.allSettled(stack.gw.app.menshen.reloaders.map(async (r) => r(gone)));
    t.ok(refusals.some((r) => r.status === 'rejected' && /restart/.test(String((r.reason as Error).message))), 'removing the gateway needs a restart');
    t.equal((await rawRequest(base, '/open/x', { headers: api() })).status, 200, 'and the routes keep serving');
  });
});
