/**
 * /_menshen/auth (forward-auth for nginx auth_request and Traefik ForwardAuth), /_menshen/userinfo,
 * and bearer API clients verified against the issuer's JWKS.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair, decodeJwt } from 'jose';
import { startStack, type Stack } from './helpers/stack.js';
import { Browser } from './helpers/browser.js';
import { rawRequest } from './helpers/raw.js';

async function signIn(stack: Stack, user: string): Promise<string> {
  const b = new Browser();
  await b.login(`${stack.base}/app/`, user);
  return `menshen=${b.cookie(stack.base, 'menshen')!}`;
}

const auth = (stack: Stack, headers: Record<string, string>, query = '') =>
  rawRequest(stack.base, `/_menshen/auth${query}`, { headers: { accept: 'application/json', ...headers } });

t.test('forward-auth behind a trusted proxy: routes by X-Forwarded-Host/-Uri', async (t) => {
  const stack = await startStack(t, { server: '  trustProxy: ["127.0.0.1"]' });
  const alice = await signIn(stack, 'alice');
  const bob = await signIn(stack, 'bob');
  const host = new URL(stack.base).host;
  const fwd = (uri: string, extra: Record<string, string> = {}) => ({ 'x-forwarded-host': host, 'x-forwarded-uri': uri, ...extra });

  const anon = await auth(stack, { accept: 'text/html' });
  t.equal(anon.status, 401, 'no session: 401 even for a browser (nginx accepts only 2xx/401/403)');
  t.equal(JSON.parse(anon.body).error, 'unauthorized');

  const ok = await auth(stack, { cookie: alice, ...fwd('/app/page?x=1') });
  t.equal(ok.status, 200);
  t.equal(ok.body, '', 'no body');
  t.equal(ok.headers['x-auth-request-user'], stack.issuer.subOf('alice'));
  t.equal(ok.headers['x-auth-request-email'], 'alice@example.com');
  t.equal(ok.headers['x-auth-request-groups'], 'staff');
  t.equal(ok.headers['x-auth-request-preferred-username'], 'alice');
  t.equal(ok.headers['x-remote-user'], 'alice', "the matched route's template headers");
  t.equal(decodeJwt(String(ok.headers['x-menshen-assertion'])).aud, 'app', 'an assertion for the matched route');
  t.equal(ok.headers['cache-control'], 'no-store');

  t.equal((await auth(stack, { cookie: bob, ...fwd('/staff/x') })).status, 403, "route policy: bob is not staff");
  t.equal((await auth(stack, { cookie: alice, ...fwd('/staff/x') })).status, 200);
  t.equal((await auth(stack, { cookie: bob, ...fwd('/open/../staff/x') })).status, 403, 'the forwarded URI is normalized first');
  t.equal((await auth(stack, { cookie: bob, ...fwd('/open/..%2fstaff/x') })).status, 400, 'a URI that cannot be normalized is never a 2xx');
  t.equal((await auth(stack, fwd('/open/x'))).status, 200, 'auth: none route: 200 without a session');
  const pub = await auth(stack, fwd('/app/public/logo.png'));
  t.equal(pub.status, 200, 'public path: 200 without a session');
  t.notOk(pub.headers['x-auth-request-user']);
  t.equal((await auth(stack, fwd('/app/x'))).status, 401);
  const unrouted = await auth(stack, { cookie: alice, ...fwd('/unrouted/x') });
  t.equal(unrouted.status, 403, 'no route: no policy to apply, refused (not "any signed-in user")');
  t.equal(JSON.parse(unrouted.body).error, 'access_denied');
  t.equal((await auth(stack, { cookie: alice, ...fwd('/_menshen/userinfo') })).status, 403, "the gateway's own paths have no route either");
  t.equal((await auth(stack, { cookie: alice })).status, 200, 'no X-Forwarded-Uri: the session alone is checked');
  t.equal((await auth(stack, { cookie: bob, 'x-original-uri': '/staff/x' })).status, 403, 'nginx X-Original-URI picks the route');
  t.equal((await auth(stack, { cookie: alice, 'x-original-uri': '/staff/x' })).status, 200);
  t.equal((await auth(stack, { cookie: bob, 'x-original-url': `http://${host}/staff/x?y=1` })).status, 403, 'ingress-nginx X-Original-URL picks the route');
  t.equal((await auth(stack, { cookie: alice, 'x-original-url': `http://${host}/staff/x?y=1` })).status, 200);
  t.equal((await auth(stack, { 'x-original-url': `http://${host}/open/x` })).status, 200, 'X-Original-URL to an auth: none route');
  t.equal((await auth(stack, { cookie: bob, 'x-original-url': 'http://elsewhere.example/staff/x' })).status, 403, 'the X-Original-URL host is used for routing; the policy still refuses bob');
  t.equal((await auth(stack, { cookie: alice, 'x-original-url': 'javascript:alert(1)' })).status, 400, 'not a URL: 400, never a 2xx');

  t.equal((await auth(stack, { cookie: bob }, '?allowed_groups=staff')).status, 403, '?allowed_groups= constraint');
  t.equal((await auth(stack, { cookie: alice }, '?allowed_groups=staff,admins')).status, 200);
  const forbidden = await auth(stack, { cookie: bob, accept: 'text/html' }, '?allowed_groups=staff');
  t.equal(forbidden.status, 403, '403 for browsers too');
});

t.test('every header naming the checked request must agree (a proxy relays the ones it does not set)', async (t) => {
  // ingress-nginx sets X-Original-URL on its auth subrequest but passes a client's own
  // X-Forwarded-Uri / X-Forwarded-Host through: preferring those made /staff/x look like /open/x.
  const stack = await startStack(t, { server: '  trustProxy: ["127.0.0.1"]' });
  const alice = await signIn(stack, 'alice');
  const bob = await signIn(stack, 'bob');
  const host = new URL(stack.base).host;
  const staffUrl = `http://${host}/staff/x?y=1`;

  const asPublic = await auth(stack, { cookie: bob, 'x-original-url': staffUrl, 'x-forwarded-uri': '/open/x' });
  t.equal(asPublic.status, 400, "a client's X-Forwarded-Uri naming an auth: none route: refused, not 200");
  t.match(JSON.parse(asPublic.body).error_description, /X-Forwarded-Uri and X-Original-URL name different requests/);
  t.equal((await auth(stack, { 'x-original-url': `http://${host}/app/x`, 'x-forwarded-uri': '/app/public/logo.png' })).status, 400, 'nor a public path, without a session');
  t.equal((await auth(stack, { cookie: bob, 'x-original-uri': '/staff/x', 'x-forwarded-uri': '/open/x' })).status, 400, 'X-Original-URI against X-Forwarded-Uri');
  const otherHost = await auth(stack, { cookie: bob, 'x-original-url': staffUrl, 'x-forwarded-host': 'elsewhere.example' });
  t.equal(otherHost.status, 400, "a client's X-Forwarded-Host naming another host: refused");
  t.match(JSON.parse(otherHost.body).error_description, /different hosts/);

  // The documented nginx setup sends all three, consistently ($http_host may differ in case).
  const consistent = { 'x-original-url': `http://${host.toUpperCase()}/staff/x?y=1`, 'x-forwarded-uri': '/staff/x?y=1', 'x-forwarded-host': host };
  t.equal((await auth(stack, { cookie: alice, ...consistent })).status, 200, 'agreeing headers: the route decides (alice is staff)');
  t.equal((await auth(stack, { cookie: bob, ...consistent })).status, 403, 'and bob is refused');
  t.equal((await auth(stack, { cookie: bob, 'x-original-url': `http://${host.toUpperCase()}/staff/x` })).status, 403, 'a mixed-case host in X-Original-URL: its path is still /staff/x');
  t.equal((await auth(stack, { 'x-original-url': `http://${host.toUpperCase()}/open/x` })).status, 200);
});

t.test('Traefik (trusted, X-Forwarded-Method) gets a login redirect for browser navigations', async (t) => {
  const stack = await startStack(t, { server: '  trustProxy: ["127.0.0.1"]' });
  const host = new URL(stack.base).host;
  const traefik = { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'http', 'x-forwarded-host': host, 'x-forwarded-uri': '/app/deep?q=1' };
  const b = new Browser();
  const res = await b.request(`${stack.base}/_menshen/auth`, { headers: traefik });
  t.equal(res.status, 302);
  t.match(res.headers.get('location'), new RegExp(`^${stack.issuer.url}/auth\\?`));
  // Follow it the way Traefik's browser would: sign in, come back to the forwarded URI.
  const page = await b.navigate(new URL(res.headers.get('location')!).href);
  const back = await b.submit(page.url, { login: 'alice' });
  t.equal(back.url, `${stack.base}/app/deep?q=1`);
  const api = await auth(stack, traefik);
  t.equal(api.status, 401, 'an API call through Traefik still gets 401');
});

t.test('forward-auth refuses X-Forwarded-* from an untrusted peer (403), never ignores them', async (t) => {
  const stack = await startStack(t); // trustProxy: false
  const bob = await signIn(stack, 'bob');
  const host = new URL(stack.base).host;
  const spoofed = await auth(stack, { 'x-forwarded-host': host, 'x-forwarded-uri': '/open/x' });
  t.equal(spoofed.status, 403, 'a spoofed public URI does not skip auth');
  t.match(JSON.parse(spoofed.body).error_description, /untrusted proxy/);
  const res = await auth(stack, { cookie: bob, 'x-forwarded-host': host, 'x-forwarded-uri': '/staff/x' });
  t.equal(res.status, 403, 'bob is not approved for a route the gateway could not look at');
  t.notOk(res.headers['x-auth-request-user'], 'and no identity comes back');
  t.equal((await auth(stack, { cookie: bob, 'x-original-uri': '/staff/x' })).status, 403, "nginx's X-Original-URI too");
  t.equal((await auth(stack, { cookie: bob, 'x-forwarded-for': '10.0.0.1' })).status, 403, 'any X-Forwarded-* header');
  const browser = await auth(stack, { accept: 'text/html', 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/app/', 'x-forwarded-host': host });
  t.equal(browser.status, 403, 'no Traefik redirect for an untrusted caller');
  const plain = await auth(stack, { cookie: bob });
  t.equal(plain.status, 200, 'without forwarded headers the session alone is checked');
  t.notOk(plain.headers['x-menshen-assertion'], 'no route, no assertion');
  t.equal((await auth(stack, {})).status, 401);
});

t.test('/_menshen/userinfo', async (t) => {
  const stack = await startStack(t);
  const alice = await signIn(stack, 'alice');
  const res = await rawRequest(stack.base, '/_menshen/userinfo', { headers: { cookie: alice } });
  t.equal(res.status, 200);
  t.match(JSON.parse(res.body), { sub: stack.issuer.subOf('alice'), preferred_username: 'alice', email: 'alice@example.com', groups: ['staff'], name: 'Alice' });
  t.notOk('nonce' in JSON.parse(res.body), 'no protocol claims');
  const none = await rawRequest(stack.base, '/_menshen/userinfo');
  t.equal(none.status, 401);
});

t.test('bearer API clients: JWTs verified against the issuer JWKS, no session needed', async (t) => {
  const stack = await startStack(t, { gateway: '  bearer: { audiences: [orders-api, billing-api] }' });
  const { issuer } = stack;
  const now = Math.floor(stack.clock.now() / 1000);
  const claims = (over: Record<string, unknown> = {}) => ({
    iss: issuer.url,
    aud: 'orders-api',
    sub: issuer.subOf('alice'),
    preferred_username: 'alice',
    groups: ['staff'],
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
    ...over,
  });
  const call = (path: string, token: string) => rawRequest(stack.base, path, { headers: { accept: 'application/json', authorization: `Bearer ${token}` } });

  const token = await issuer.sign(claims());
  const ok = await call('/app/x', token);
  t.equal(ok.status, 200);
  const h = (JSON.parse(ok.body) as { headers: Record<string, string> }).headers;
  t.equal(h['x-auth-request-user'], issuer.subOf('alice'));
  t.equal(h['x-remote-user'], 'alice');
  t.equal(h.authorization, `Bearer ${token}`, 'the API client\'s token goes on to the app');
  t.equal(decodeJwt(h['x-menshen-assertion']!).sub, issuer.subOf('alice'));

  t.equal((await call('/app/x', await issuer.sign(claims({ aud: ['other', 'billing-api'] })))).status, 200, 'aud list containing an accepted audience');
  t.equal((await call('/app/x', await issuer.sign(claims(), 'at+jwt'))).status, 200, 'typ at+jwt (RFC 9068)');
  t.equal((await call('/app/x', await issuer.sign(claims(), 'application/at+jwt'))).status, 200, 'typ application/at+jwt');
  t.equal((await call('/staff/x', await issuer.sign(claims({ groups: ['contractors'] })))).status, 403, 'route policy applies');
  t.equal(
    JSON.parse((await call('/api/x', token)).body).headers.authorization,
    `Bearer ${token}`,
    'passAccessToken routes get the bearer token itself',
  );

  const { privateKey: foreign } = await generateKeyPair('RS256');
  const refused: Array<[string, string, RegExp]> = [
    ['expired', await issuer.sign(claims({ exp: now - 120 })), /expired/],
    ['not for us', await issuer.sign(claims({ aud: 'other' })), /not meant/],
    ['azp alone', await issuer.sign(claims({ aud: 'other', azp: 'orders-api' })), /not meant/],
    ["the gateway's own client id (its tokens go to passAccessToken upstreams)", await issuer.sign(claims({ aud: issuer.clientId })), /not meant/],
    ['a logout token', await issuer.sign(claims({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} } }), 'logout+jwt'), /not an access token/],
    ['events claim', await issuer.sign(claims({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })), /not an access token/],
    ['an id token (nonce)', await issuer.sign(claims({ nonce: 'n-1' })), /not an access token/],
    ['an id token (at_hash)', await issuer.sign(claims({ at_hash: 'abc' })), /not an access token/],
    ['another typ', await issuer.sign(claims(), 'secevent+jwt'), /not an access token/],
    ['wrong issuer', await issuer.sign(claims({ iss: 'http://127.0.0.1:1' })), /iss/],
    ['no sub', await issuer.sign(claims({ sub: undefined })), /sub/],
    ['foreign key', await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'k' }).sign(foreign), /signature|valid/],
    ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`, /valid/],
    ['opaque', 'abcdefghijklmnop', /valid/],
  ];
  for (const [why, bad, message] of refused) {
    const res = await call('/app/x', bad);
    t.equal(res.status, 401, why);
    t.match(res.headers['www-authenticate'], /error="invalid_token"/, `${why}: RFC 6750 challenge`);
    t.match(JSON.parse(res.body).error_description, message, why);
  }
  const info = await call('/_menshen/userinfo', token);
  t.equal(JSON.parse(info.body).sub, issuer.subOf('alice'), 'userinfo for bearer clients too');
});
