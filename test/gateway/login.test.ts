/**
 * Login through an external standard issuer (panva's oidc-provider): the redirect, the callback,
 * the session cookie, same-origin returns, login-state cookie cap, fixation, API clients' 401.
 */
import t from 'tap';
import { echoOf, startStack } from './helpers/stack.js';
import { Browser } from './helpers/browser.js';
import { rawRequest } from './helpers/raw.js';
import { hashHandle } from '../../src/crypto/secrets.js';

t.test('a browser is sent to the issuer with PKCE S256, state and nonce, and comes back signed in', async (t) => {
  const { base, issuer, browser } = await startStack(t);

  const first = await browser.request(`${base}/app/page?x=1&y=%2F`);
  t.equal(first.status, 302);
  const authorize = new URL(first.headers.get('location')!);
  t.equal(authorize.origin, issuer.url, 'to the issuer');
  t.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  t.match(authorize.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
  t.ok(authorize.searchParams.get('state'), 'state');
  t.ok(authorize.searchParams.get('nonce'), 'nonce');
  t.equal(authorize.searchParams.get('redirect_uri'), `${base}/_menshen/callback`);
  t.equal(authorize.searchParams.get('client_id'), issuer.clientId);
  t.equal(first.headers.get('cache-control'), 'no-store');
  const loginCookie = first.headers.getSetCookie().find((c) => c.startsWith('menshen-login='))!;
  t.match(loginCookie, /HttpOnly/i);
  t.match(loginCookie, /SameSite=Lax/i);

  const page = await browser.submit((await browser.navigate(authorize.href)).url, { login: 'alice' });
  t.equal(page.status, 200);
  t.equal(page.url, `${base}/app/page?x=1&y=%2F`, 'back at the original URL, query intact');
  const echo = echoOf(page);
  t.equal(echo.url, '/app/page?x=1&y=%2F', 'the upstream got the path and the raw query');
  t.equal(echo.headers['x-auth-request-user'], issuer.subOf('alice'));
  t.equal(echo.headers['x-auth-request-preferred-username'], 'alice');
  t.equal(echo.headers['x-auth-request-email'], 'alice@example.com');
  t.equal(echo.headers['x-auth-request-groups'], 'staff');
  t.equal(echo.headers['x-forwarded-user'], issuer.subOf('alice'));
  t.equal(echo.headers['x-remote-user'], 'alice', "the route's template header");
  t.ok(echo.headers['x-menshen-assertion'], 'the assertion');
  t.notOk(browser.cookie(base, 'menshen-login'), 'the login-state cookie is gone once used');
  t.ok(browser.cookie(base, 'menshen'), 'the session cookie');
});

t.test('the session cookie is HttpOnly, SameSite=Lax, signed, and carries no token', async (t) => {
  const { base, browser } = await startStack(t);
  const chain: Response[] = [];
  const page = await browser.navigate(`${base}/app/`);
  const res = await browser.request(page.url, { method: 'POST', body: 'login=alice', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  let next = new URL(res.headers.get('location')!, page.url).href;
  for (let i = 0; i < 10; i++) {
    const r = await browser.request(next);
    chain.push(r);
    const loc = r.headers.get('location');
    if (!loc) break;
    next = new URL(loc, next).href;
  }
  const setCookie = chain.flatMap((r) => r.headers.getSetCookie()).find((c) => c.startsWith('menshen='))!;
  t.ok(setCookie, 'the callback set the session cookie');
  t.match(setCookie, /HttpOnly/i);
  t.match(setCookie, /SameSite=Lax/i);
  t.notMatch(setCookie, /Secure/i, 'not Secure on an http publicUrl');
  const value = decodeURIComponent(setCookie.split(';')[0]!.slice('menshen='.length));
  t.match(value, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9+/]+$/, 'id.secret.signature');
  t.ok(value.length < 200, 'small');
});

t.test('API and XHR requests get 401 JSON, never a redirect', async (t) => {
  const { base } = await startStack(t);
  const api = await fetch(`${base}/app/data`, { headers: { accept: 'application/json' }, redirect: 'manual' });
  t.equal(api.status, 401);
  t.same(await api.json(), { error: 'unauthorized', error_description: 'login required' });
  t.match(api.headers.get('www-authenticate'), /^Bearer/);
  const xhr = await fetch(`${base}/app/data`, { headers: { accept: 'text/html', 'x-requested-with': 'XMLHttpRequest' }, redirect: 'manual' });
  t.equal(xhr.status, 401);
  const none = await fetch(`${base}/app/data`, { redirect: 'manual' });
  t.equal(none.status, 401, 'no Accept at all is not a browser');
});

t.test('the callback refuses a state this browser did not start, and a replayed one', async (t) => {
  const stack = await startStack(t);
  const { base, browser } = stack;
  const start = await browser.request(`${base}/app/`);
  const state = new URL(start.headers.get('location')!).searchParams.get('state')!;

  const stranger = new Browser();
  const foreign = await stranger.request(`${base}/_menshen/callback?code=abc&state=${state}`);
  t.equal(foreign.status, 400, 'a browser without the login cookie cannot complete the login (login CSRF)');
  t.match(await foreign.text(), /another browser/);

  // Sign in by hand to keep the login cookie as it was before the callback: a replay with it
  // passes the cookie check, so only the one-time transaction can refuse it.
  const form = await browser.navigate(`${base}/app/`);
  const loginCookie = browser.cookie(base, 'menshen-login')!;
  const page = await browser.submit(form.url, { login: 'alice' });
  t.equal(page.status, 200);
  const callbackUrl = browser.visited.find((u) => u.startsWith(`${base}/_menshen/callback`))!;
  const codeGrants = stack.issuer.grants.authorization_code ?? 0;
  browser.setCookie(base, 'menshen-login', loginCookie);
  const replay = await browser.request(callbackUrl);
  t.equal(replay.status, 400, 'a used callback URL is refused, even with the login cookie that started it');
  t.match(await replay.text(), /expired/, 'by the spent transaction');
  t.equal(stack.issuer.grants.authorization_code ?? 0, codeGrants, 'and its code is not redeemed again');

  const garbage = await browser.request(`${base}/_menshen/callback`);
  t.equal(garbage.status, 400, 'no state at all');
  const api = await fetch(`${base}/_menshen/callback?state=x&code=y`, { headers: { accept: 'application/json' } });
  t.equal(api.status, 400);
  t.equal(((await api.json()) as { error: string }).error, 'login_failed');
});

t.test('login-state cookies are capped: one cookie, at most five pending logins, oldest dropped', async (t) => {
  const { base, browser } = await startStack(t);
  const states: string[] = [];
  for (let i = 0; i < 8; i++) {
    const res = await browser.request(`${base}/app/tab${i}`);
    states.push(new URL(res.headers.get('location')!).searchParams.get('state')!);
  }
  const cookies = [...browser.jar.get('127.0.0.1')!.keys()];
  t.same(cookies.filter((c) => c.startsWith('menshen')), ['menshen-login'], 'one login-state cookie, however many tabs');
  const value = decodeURIComponent(browser.cookie(base, 'menshen-login')!);
  const kept = value.slice(0, value.lastIndexOf('.')).split('.');
  t.same(kept, states.slice(-5), 'the five newest, in order');
});

t.test('after login the browser returns only to the same origin', async (t) => {
  const { base, browser } = await startStack(t);
  const evil = await browser.login(`${base}/_menshen/login?rd=${encodeURIComponent('https://evil.example/steal')}`, 'alice');
  t.equal(evil.url, `${base}/`, 'a foreign rd is replaced by the home page');
  const tricky = await new Browser().login(`${base}/_menshen/login?rd=${encodeURIComponent('/\\evil.example')}`, 'alice');
  t.equal(tricky.url, `${base}/`, "'/\\\\' is not a path");
  const fine = await new Browser().login(`${base}/_menshen/login?rd=${encodeURIComponent('/app/deep?a=1')}`, 'alice');
  t.equal(fine.url, `${base}/app/deep?a=1`);
});

t.test('every login creates a new session id; the old one stops working (no fixation)', async (t) => {
  const { base, browser } = await startStack(t);
  await browser.login(`${base}/app/`, 'alice');
  const first = browser.cookie(base, 'menshen')!;
  const again = await browser.login(`${base}/_menshen/login?rd=/app/`, 'alice');
  t.equal(again.status, 200);
  const second = browser.cookie(base, 'menshen')!;
  t.not(second, first, 'a new ticket');
  const old = await fetch(`${base}/app/`, { headers: { cookie: `menshen=${first}`, accept: 'application/json' } });
  t.equal(old.status, 401, 'the previous session was ended');
  const cur = await fetch(`${base}/app/`, { headers: { cookie: `menshen=${second}`, accept: 'application/json' } });
  t.equal(cur.status, 200);
});

t.test('a sign-in declined at the issuer ends on a 403 page, not a loop or a 500', async (t) => {
  const { base, issuer, browser } = await startStack(t);
  const start = await browser.request(`${base}/app/`);
  const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
  const declined = await browser.request(`${base}/_menshen/callback?error=access_denied&error_description=nope&state=${state}&iss=${encodeURIComponent(issuer.url)}`);
  t.equal(declined.status, 403);
  t.match(await declined.text(), /declined/);
  t.notOk(browser.cookie(base, 'menshen'), 'no session');
});

t.test('login transactions stay small and short-lived: a long return URL falls back to the home page', async (t) => {
  const { base, browser, gw } = await startStack(t, { store: 'memory' });
  const deep = `/app/${'a'.repeat(1500)}?q=1`;
  const long = `/app/${'b'.repeat(4000)}`;

  const start = await browser.request(`${base}/_menshen/login?rd=${encodeURIComponent(long)}`);
  t.equal(start.status, 302);
  const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
  const key = `gw:login:${hashHandle(state)}`;
  const box = await gw.store.get(key);
  t.ok(box && box.length < 600, `the transaction holds no 4 KB URL (${box?.length} bytes)`);
  const ttl = await gw.store.ttl(key);
  t.ok(ttl > 0 && ttl <= 300, `kept at most 5 minutes (${ttl} s)`);
  t.match(start.headers.getSetCookie().find((c) => c.startsWith('menshen-login='))!, /Max-Age=300/);
  const landed = await browser.submit((await browser.navigate(start.headers.get('location')!)).url, { login: 'alice' });
  t.equal(landed.url, `${base}/`, 'back at the home page instead');

  const b2 = new Browser();
  const page = await b2.login(`${base}${deep}`, 'alice');
  t.equal(page.url, `${base}${deep}`, 'a deep link of 1.5 KB still comes back');
});

t.test('each client IP may start gateway.loginRateLimit logins a minute: 429 beyond', async (t) => {
  const { base, gw, clock } = await startStack(t, { store: 'memory', gateway: '  loginRateLimit: 3' });
  const anon = () => rawRequest(base, '/app/x', { headers: { accept: 'text/html' } });
  for (let i = 0; i < 3; i++) t.equal((await anon()).status, 302, `login ${i + 1} starts`);
  const refused = await anon();
  t.equal(refused.status, 429);
  t.equal(refused.headers['retry-after'], '60');
  t.match(refused.body, /Too many requests/);
  const login = await rawRequest(base, '/_menshen/login?rd=/app/', { headers: { accept: 'text/html' } });
  t.equal(login.status, 429, '/_menshen/login counts too');
  t.equal((await rawRequest(base, '/app/x', { headers: { accept: 'application/json' } })).status, 401, 'API clients start no login: 401 as before');
  clock.advance(61_000);
  t.equal((await anon()).status, 302, 'a minute later it starts again');
  t.equal(gw.config.gateway!.loginRateLimit, 3);
});
