/**
 * Logout: RP-initiated logout at the issuer (id_token_hint, post_logout_redirect_uri, refresh token
 * revoked), and OIDC Back-Channel Logout 1.0, both from the real issuer and with crafted tokens
 * (replay, nonce, events, aud, iss, jti, iat, foreign keys).
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import { startStack, type Stack } from './helpers/stack.js';
import { Browser } from './helpers/browser.js';
import { rawRequest } from './helpers/raw.js';
import { MemoryStore } from '../../src/store/memory.js';
import { StoreUnavailableError } from '../../src/store/store.js';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const cookieOf = (stack: Stack, b: Browser) => `menshen=${b.cookie(stack.base, 'menshen')!}`;
const status = async (stack: Stack, b: Browser) =>
  (await rawRequest(stack.base, '/app/x', { headers: { accept: 'application/json', cookie: cookieOf(stack, b) } })).status;

/** The gateway's logout form, as the browser on its confirmation page submits it. */
const logoutPost = (stack: Stack, b: Browser, rd?: string, headers: Record<string, string> = {}) =>
  b.request(`${stack.base}/_menshen/logout`, {
    method: 'POST',
    body: rd === undefined ? '' : new URLSearchParams({ rd }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: stack.base, 'sec-fetch-site': 'same-origin', ...headers },
  });

/** Confirms the issuer's own logout page (the form oidc-provider renders at end_session). */
async function confirmIssuerLogout(b: Browser, endSessionUrl: string) {
  const page = await b.navigate(endSessionUrl);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)?.[1];
  if (!xsrf) throw new Error(`no logout form at ${page.url}: ${page.body.slice(0, 200)}`);
  return b.submit(new URL('/session/end/confirm', page.url).href, { xsrf, logout: 'yes' });
}

t.test('logout ends the session, revokes the refresh token, and logs out at the issuer', async (t) => {
  const stack = await startStack(t);
  const b = stack.browser;
  await b.login(`${stack.base}/app/`, 'alice');
  const cookie = cookieOf(stack, b);
  const id = b.cookie(stack.base, 'menshen')!.split('.')[0]!;

  const res = await logoutPost(stack, b, '/bye');
  t.equal(res.status, 302);
  const end = new URL(res.headers.get('location')!);
  t.equal(`${end.origin}${end.pathname}`, `${stack.issuer.url}/session/end`, 'to the issuer end_session_endpoint');
  t.ok(end.searchParams.get('id_token_hint'), 'with id_token_hint');
  t.equal(end.searchParams.get('post_logout_redirect_uri'), `${stack.base}/bye`);
  t.match(res.headers.getSetCookie().join('\n'), /menshen=; Path=\/; Max-Age=0/);
  t.equal(await stack.gw.store.get(`gw:sess:{${id}}`), null, 'the session is gone');
  t.equal(stack.issuer.revocations.count, 1, 'the refresh token was revoked at the issuer');
  t.equal((await rawRequest(stack.base, '/app/x', { headers: { accept: 'application/json', cookie } })).status, 401);

  const back = await confirmIssuerLogout(b, end.href);
  t.equal(back.url, `${stack.base}/bye`, 'the issuer sends the browser back to rd');
  const again = await b.navigate(`${stack.base}/app/`);
  t.match(again.url, /\/interaction\//, 'signed out at the issuer too: its login page again');
});

t.test('logout: foreign rd is replaced, API callers get JSON, no session is fine', async (t) => {
  const stack = await startStack(t);
  await stack.browser.login(`${stack.base}/app/`, 'alice');
  const res = await logoutPost(stack, stack.browser, 'https://evil.example/');
  t.equal(new URL(res.headers.get('location')!).searchParams.get('post_logout_redirect_uri'), `${stack.base}/`);

  const none = await rawRequest(stack.base, '/_menshen/logout?rd=/bye', { method: 'POST', headers: { accept: 'text/html' } });
  t.equal(none.status, 302);
  t.equal(none.headers.location, `${stack.base}/bye`, 'without a session: straight back');
  const api = await rawRequest(stack.base, '/_menshen/logout', { method: 'POST', headers: { accept: 'application/json' } });
  t.equal(api.status, 200);
  t.same(JSON.parse(api.body), { status: 'logged_out', redirect: `${stack.base}/` });
});

t.test('logout is POST only: a GET shows a confirmation page, cross-site POSTs are refused', async (t) => {
  const stack = await startStack(t, { store: 'memory' });
  const b = stack.browser;
  await b.login(`${stack.base}/app/`, 'alice');

  const page = await b.navigate(`${stack.base}/_menshen/logout?rd=/bye"><script>x</script>`);
  t.equal(page.status, 200);
  t.match(page.res.headers.get('content-security-policy'), /default-src 'none'/);
  t.match(page.res.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  t.equal(page.res.headers.get('cache-control'), 'no-store');
  t.match(page.body, /<form method="post" action="\/_menshen\/logout">/);
  t.notMatch(page.body, /<script>/, 'rd is never echoed raw');
  t.equal(await status(stack, b), 200, 'the GET ended nothing');
  const safe = await b.navigate(`${stack.base}/_menshen/logout?rd=/bye`);
  t.match(safe.body, new RegExp(`name="rd" value="${stack.base}/bye"`), 'a same-origin rd rides along in the form');

  const cross: Array<[string, Record<string, string>]> = [
    ['another Origin', { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }],
    ['another Origin alone', { origin: 'https://evil.example' }],
    ['Sec-Fetch-Site: cross-site alone', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { origin: stack.base, 'sec-fetch-site': 'same-site' }],
    ['Origin: null', { origin: 'null' }],
  ];
  for (const [why, headers] of cross) {
    const res = await b.request(`${stack.base}/_menshen/logout`, {
      method: 'POST',
      body: 'rd=/bye',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    });
    t.equal(res.status, 403, why);
  }
  t.equal(await status(stack, b), 200, 'no cross-site request ended the session');

  // The confirmation page's own button (same origin) does it.
  const out = await b.fillForm(safe, {});
  t.match(out.url, new RegExp(`^${stack.issuer.url}/session/end`), "on to the issuer's logout");
  t.equal(await status(stack, b), 401, 'the session is over');
});

t.test('a back-channel logout that could not end the sessions can be retried with the same token', async (t) => {
  const memory = new MemoryStore();
  let failNext = false;
  // The real store, with one injected outage on the index read that ending sessions starts with.
  const kv = new Proxy(memory, {
    get(target, prop, receiver) {
      if (prop === 'smembers')
        return async (key: string) => {
          if (failNext) {
            failNext = false;
            throw new StoreUnavailableError(new Error('injected'));
          }
          return target.smembers(key);
        };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const stack = await startStack(t, { kv });
  const b = new Browser();
  await b.login(`${stack.base}/app/`, 'alice');
  const now = Math.floor(stack.clock.now() / 1000);
  const token = await stack.issuer.sign(
    { iss: stack.issuer.url, aud: stack.issuer.clientId, iat: now, jti: randomUUID(), events: { [EVENT]: {} }, sub: stack.issuer.subOf('alice') },
    'logout+jwt',
  );
  const send = () =>
    rawRequest(stack.base, '/_menshen/backchannel-logout', {
      method: 'POST',
      body: new URLSearchParams({ logout_token: token }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  failNext = true;
  t.equal((await send()).status, 503, 'the store failed: the OP is told to retry');
  t.equal(await status(stack, b), 200, 'nothing ended yet');
  t.equal((await send()).status, 200, 'the retry with the same token is accepted');
  t.equal(await status(stack, b), 401, 'and ends the session');
  t.equal((await send()).status, 400, 'after which it is a replay');
});

t.test('the issuer ends a session through back-channel logout, by sid: other sessions stay', async (t) => {
  const stack = await startStack(t);
  const one = new Browser();
  const two = new Browser();
  await one.login(`${stack.base}/app/`, 'alice');
  await two.login(`${stack.base}/app/`, 'alice');
  t.equal(await status(stack, one), 200);
  t.equal(await status(stack, two), 200);

  // Browser one signs out at the issuer directly (not through the gateway).
  await confirmIssuerLogout(one, `${stack.issuer.url}/session/end`);
  t.same(stack.issuer.backchannelErrors, [], 'the gateway answered the issuer 200');
  t.equal(await status(stack, one), 401, 'that session is over');
  t.equal(await status(stack, two), 200, "the other browser's session (another sid) stays");
});

t.test('back-channel logout tokens are checked per the spec, and used once', async (t) => {
  const stack = await startStack(t);
  const { issuer } = stack;
  const one = new Browser();
  const two = new Browser();
  await one.login(`${stack.base}/app/`, 'alice');
  await two.login(`${stack.base}/app/`, 'alice');
  const bob = new Browser();
  await bob.login(`${stack.base}/app/`, 'bob');

  const now = () => Math.floor(stack.clock.now() / 1000);
  const claims = (over: Record<string, unknown> = {}) => ({
    iss: issuer.url,
    aud: issuer.clientId,
    iat: now(),
    jti: randomUUID(),
    events: { [EVENT]: {} },
    sub: issuer.subOf('alice'),
    ...over,
  });
  const post = (body: string) =>
    rawRequest(stack.base, '/_menshen/backchannel-logout', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  const send = async (token: string) => post(new URLSearchParams({ logout_token: token }).toString());

  const { privateKey: foreignKey } = await generateKeyPair('RS256');
  const bad: Array<[string, string]> = [
    ['nonce present', await issuer.sign(claims({ nonce: 'n' }), 'logout+jwt')],
    ['no events', await issuer.sign(claims({ events: undefined }), 'logout+jwt')],
    ['wrong event', await issuer.sign(claims({ events: { 'http://example.com/other': {} } }), 'logout+jwt')],
    ['event not an object', await issuer.sign(claims({ events: { [EVENT]: 'yes' } }), 'logout+jwt')],
    ['wrong aud', await issuer.sign(claims({ aud: 'someone-else' }), 'logout+jwt')],
    ['wrong iss', await issuer.sign(claims({ iss: 'http://127.0.0.1:1' }), 'logout+jwt')],
    ['no jti', await issuer.sign(claims({ jti: undefined }), 'logout+jwt')],
    ['no iat', await issuer.sign(claims({ iat: undefined }), 'logout+jwt')],
    ['too old', await issuer.sign(claims({ iat: now() - 3600 }), 'logout+jwt')],
    ['neither sid nor sub', await issuer.sign(claims({ sub: undefined }), 'logout+jwt')],
    ['foreign key', await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'x' }).sign(foreignKey)],
    ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`],
    ['garbage', 'not-a-jwt'],
  ];
  for (const [why, token] of bad) {
    const res = await send(token);
    t.equal(res.status, 400, why);
    t.equal((JSON.parse(res.body) as { error: string }).error, 'invalid_request', `${why}: error code`);
  }
  t.equal((await post('')).status, 400, 'no logout_token');
  t.equal(await status(stack, one), 200, 'nothing ended by a bad token');

  const good = await issuer.sign(claims(), 'logout+jwt');
  const ok = await send(good);
  t.equal(ok.status, 200);
  t.equal(ok.headers['cache-control'], 'no-store');
  t.equal(await status(stack, one), 401, 'by sub: every session of alice ends');
  t.equal(await status(stack, two), 401);
  t.equal(await status(stack, bob), 200, "bob's stays");

  await two.login(`${stack.base}/_menshen/login?rd=/app/`, 'alice');
  t.equal(await status(stack, two), 200, 'alice signs in again');
  const replay = await send(good);
  t.equal(replay.status, 400, 'a replayed logout token is refused');
  t.match(JSON.parse(replay.body), { error_description: /already used/ });
  t.equal(await status(stack, two), 200, 'and ends nothing');
});
