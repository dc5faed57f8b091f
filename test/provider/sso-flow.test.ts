/**
 * The QingCloud `/sso/*` dialect end to end over HTTP against a real app (suite Redis, ManualClock):
 * a client written only against seed 003 (its documented parameters and fields, nothing else),
 * exact bodies, the token_issuer variants, the code/dialect separation, refresh rotation and reuse,
 * check_token after revocation and expiry, and the errors of §5.10.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { ManualClock } from '../../src/clock.js';
import { startApp, TEST_PASSWORD, TEST_PASSWORD_HASH } from '../helpers/app.js';
import { testRedisStore, testRedisUrl, uniquePrefix } from '../helpers/store.js';
import { Jar, basic, browserAuthorize, call, form, type ProviderFixture } from './helpers.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const APP = 'app-8r2f7oyr';
const SECRET = 'qc-secret-0123456789abcdef';
const CB = 'http://127.0.0.1:9/sample';
const JSON_UTF8 = 'application/json;charset=UTF-8';

const yaml = `
provider:
  issuer: "{{BASE}}/idp"
  clients:
    - clientId: ${APP}
      clientSecret: ${SECRET}
      redirectUris: ["${CB}"]
      grants: [authorization_code, refresh_token]
    - clientId: opaque-app
      clientSecret: ${SECRET}
      redirectUris: ["${CB}"]
      grants: [authorization_code, refresh_token]
      accessTokenFormat: opaque
    - clientId: other
      clientSecret: ${SECRET}
      redirectUris: ["${CB}"]
      grants: [authorization_code, refresh_token]
  users:
    - { username: alice, passwordHash: "${TEST_PASSWORD_HASH}", email: alice@example.com, phone: "+8615088888888", name: Alice }
    - { username: bob, passwordHash: "${TEST_PASSWORD_HASH}" }
`;

interface Fx extends ProviderFixture {
  prefix: string;
}

async function boot(t: Test): Promise<Fx> {
  const clock = new ManualClock();
  const prefix = uniquePrefix();
  const store = await testRedisStore(prefix);
  t.teardown(() => store.close());
  const running = await startApp(t, yaml, { clock, store });
  return { ...running, clock, issuer: `${running.base}/idp`, prefix };
}

const bearerForm = (token: string, params: Record<string, string> = {}) => {
  const f = form(params);
  return { ...f, headers: { ...f.headers, authorization: `Bearer ${token}` } };
};

/**
 * The seed 003 client: only the documented parameters, in the documented places; it reads only
 * the documented fields. Its login is done by a browser (here: a form walk through the login page).
 */
const seedClient = {
  authorizeUrl: (fx: Fx, state: string) => `${fx.issuer}/sso/oauth2/?${new URLSearchParams({ client_id: APP, state, response_type: 'code', redirect_uri: CB })}`,
  token: (fx: Fx, code: string) =>
    call(`${fx.issuer}/sso/token/`, form({ grant_type: 'authorization_code', code, redirect_uri: CB, client_id: APP, client_secret: SECRET })),
  checkToken: (fx: Fx, accessToken: string) => call(`${fx.issuer}/sso/check_token/`, { method: 'POST', headers: { authorization: `Bearer ${accessToken}` } }),
  refresh: (fx: Fx, accessToken: string, refreshToken: string) =>
    call(`${fx.issuer}/sso/refresh_token/`, bearerForm(accessToken, { grant_type: 'refresh_token', refresh_token: refreshToken })),
};

async function ssoLogin(fx: Fx, opts: { user?: string; jar?: Jar; url?: string } = {}): Promise<{ code: string; jar: Jar; location: URL }> {
  const { location, jar } = await browserAuthorize(fx, opts.url ?? seedClient.authorizeUrl(fx, 'st'), { username: opts.user ?? 'alice', password: TEST_PASSWORD }, opts.jar);
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code: ${location.toString()}`);
  return { code, jar, location };
}

async function ssoTokens(t: Test, fx: Fx, extra: Record<string, string> = {}, clientId = APP) {
  const { code } = await ssoLogin(fx, clientId === APP ? {} : { url: `${fx.issuer}/sso/oauth2/?${new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: CB })}` });
  const r = await call(`${fx.issuer}/sso/token/`, form({ grant_type: 'authorization_code', code, redirect_uri: CB, client_id: clientId, client_secret: SECRET, ...extra }));
  t.equal(r.status, 200, r.text);
  return r.json as { access_token: string; refresh_token?: string; expires_in: number; token_type: string };
}

t.test('a client written only against seed 003 works unchanged', async (t) => {
  const fx = await boot(t);
  const { location, code } = await ssoLogin(fx);
  t.equal(`${location.origin}${location.pathname}`, CB, 'the browser lands on the app URL');
  t.same([...location.searchParams.keys()].sort(), ['code', 'state']);
  t.equal(location.searchParams.get('state'), 'st', 'state comes back unchanged');

  const tok = await seedClient.token(fx, code);
  t.equal(tok.status, 200, tok.text);
  t.equal(tok.headers.get('content-type'), JSON_UTF8);
  t.equal(tok.headers.get('cache-control'), 'no-store');
  t.same(Object.keys(tok.json!), ['access_token', 'expires_in', 'token_type', 'refresh_token'], 'exactly the documented response parameters');
  t.equal(tok.json!.token_type, 'Bearer');
  t.equal(tok.json!.expires_in, 300);
  t.type(tok.json!.access_token, 'string');

  const check = await seedClient.checkToken(fx, String(tok.json!.access_token));
  t.equal(check.status, 200, check.text);
  t.same(Object.keys(check.json!), ['access_key', 'secret_key', 'token', 'user']);
  const user = check.json!.user as Record<string, string>;
  t.same(Object.keys(user), ['lang', 'user_id', 'user_name', 'email', 'phone']);
  t.same({ ...user, user_id: 'x' }, { lang: 'zh-cn', user_id: 'x', user_name: 'alice', email: 'alice@example.com', phone: '+8615088888888' });
  t.match(check.json!.access_key, /^[A-Z2-7]{20}$/);
  t.match(check.json!.secret_key, /^[A-Za-z0-9_-]{40}$/);
  t.match(check.json!.token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'token: a JWT');
  const again = await seedClient.checkToken(fx, String(tok.json!.access_token));
  t.equal(again.json!.access_key, check.json!.access_key, 'the same pair for the same access token');
  t.equal(again.json!.secret_key, check.json!.secret_key);

  const ref = await seedClient.refresh(fx, String(tok.json!.access_token), String(tok.json!.refresh_token));
  t.equal(ref.status, 200, ref.text);
  t.same(Object.keys(ref.json!), ['access_token', 'expires_in', 'token_type', 'refresh_token', 'access_key', 'secret_key', 'token', 'user'], '§5.10: the union of both documented shapes');
  t.not(ref.json!.access_token, tok.json!.access_token);
  t.not(ref.json!.refresh_token, tok.json!.refresh_token, 'rotated');
  t.not(ref.json!.access_key, check.json!.access_key, 'fresh credentials for the new token');
  const after = await seedClient.checkToken(fx, String(ref.json!.access_token));
  t.equal(after.json!.access_key, ref.json!.access_key, 'check_token of the new token returns the pair refresh_token handed out');
  t.equal(after.json!.secret_key, ref.json!.secret_key);
  const old = await seedClient.checkToken(fx, String(tok.json!.access_token));
  t.equal(old.status, 401, 'the rotated-out access token is dead (EIAM rotation semantics)');
});

t.test('spellings: redirect_url, no trailing slash, JSON bodies, is_filter_user_verify', async (t) => {
  const fx = await boot(t);
  const url = `${fx.issuer}/sso/oauth2?${new URLSearchParams({ client_id: APP, response_type: 'code', redirect_url: CB })}`;
  const { code } = await ssoLogin(fx, { url });
  const tok = await call(`${fx.issuer}/sso/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'authorization_code', code, redirect_uri: CB, client_id: APP, client_secret: SECRET }),
  });
  t.equal(tok.status, 200, `JSON body, no trailing slash: ${tok.text}`);
  const at = String(tok.json!.access_token);
  const plain = await call(`${fx.issuer}/sso/check_token`, { method: 'POST', headers: { authorization: `Bearer ${at}` } });
  t.notOk('user_verify' in plain.json!, 'no user_verify by default');
  const zero = await call(`${fx.issuer}/sso/check_token/`, bearerForm(at, { is_filter_user_verify: '0' }));
  t.notOk('user_verify' in zero.json!);
  const one = await call(`${fx.issuer}/sso/check_token/`, bearerForm(at, { is_filter_user_verify: '1' }));
  t.same(one.json!.user_verify, {}, 'user_verify only with is_filter_user_verify=1');
  t.same(Object.keys(one.json!), ['access_key', 'secret_key', 'token', 'user', 'user_verify']);
  const jsonOne = await call(`${fx.issuer}/sso/check_token/`, {
    method: 'POST',
    headers: { authorization: `Bearer ${at}`, 'content-type': 'application/json' },
    body: JSON.stringify({ is_filter_user_verify: 1 }),
  });
  t.same(jsonOne.json!.user_verify, {}, 'a JSON number works too');
  const bad = await call(`${fx.issuer}/sso/check_token/`, bearerForm(at, { is_filter_user_verify: '2' }));
  t.equal(bad.status, 400);
  t.equal(bad.text, '{"error":"invalid_request","error_description":"invalid is_filter_user_verify"}');
  const basicAuth = await ssoLogin(fx);
  const viaBasic = await call(`${fx.issuer}/sso/token/`, {
    ...form({ grant_type: 'authorization_code', code: basicAuth.code, redirect_uri: CB }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(APP, SECRET) },
  });
  t.equal(viaBasic.status, 200, 'HTTP Basic client authentication');
});

t.test('token_issuer: iam_jwt gives a JWT, token_type JWT and no refresh_token', async (t) => {
  const fx = await boot(t);
  const jwt = await ssoTokens(t, fx, { token_issuer: 'iam_jwt' }, 'opaque-app');
  t.same(Object.keys(jwt), ['access_token', 'expires_in', 'token_type']);
  t.equal(jwt.token_type, 'JWT');
  t.match(jwt.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT although the client is opaque');
  const claims = JSON.parse(Buffer.from(jwt.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  t.equal(claims.aud, 'opaque-app');
  t.equal(claims.iss, `${fx.issuer}`);
  t.equal((await seedClient.checkToken(fx, jwt.access_token)).status, 200, 'check_token accepts it');

  const iam = await ssoTokens(t, fx, { token_issuer: 'iam' }, 'opaque-app');
  t.equal(iam.token_type, 'Bearer');
  t.match(iam.access_token, /^[0-9a-f]{32}$/, 'the client format (opaque, EIAM style)');
  t.ok(iam.refresh_token);
  const none = await ssoTokens(t, fx, {}, 'opaque-app');
  t.ok(none.refresh_token, 'absent token_issuer: the SSO service issues, with a refresh token');

  const { code } = await ssoLogin(fx);
  const bad = await call(`${fx.issuer}/sso/token/`, form({ grant_type: 'authorization_code', code, redirect_uri: CB, client_id: APP, client_secret: SECRET, token_issuer: 'qq' }));
  t.equal(bad.status, 400);
  t.equal(bad.text, '{"error":"invalid_request","error_description":"invalid token_issuer"}');
});

t.test('codes stay in their dialect and with their client', async (t) => {
  const fx = await boot(t);
  const sso = await ssoLogin(fx);
  const atOidc = await call(`${fx.issuer}/oauth2/token`, form({ grant_type: 'authorization_code', code: sso.code, redirect_uri: CB, client_id: APP, client_secret: SECRET }));
  t.equal(atOidc.status, 400, 'an /sso code at /oauth2/token');
  t.equal(atOidc.text, '{"error":"invalid_grant","error_description":"invalid code"}');

  const oidcUrl = `${fx.issuer}/oauth2/authorize?${new URLSearchParams({ client_id: APP, response_type: 'code', redirect_uri: CB, scope: 'openid' })}`;
  const oidc = await browserAuthorize(fx, oidcUrl, null, sso.jar);
  const oidcCode = oidc.location.searchParams.get('code')!;
  t.ok(oidcCode, 'the provider SSO session answers /oauth2/authorize without a login');
  const atSso = await seedClient.token(fx, oidcCode);
  t.equal(atSso.status, 400, 'an /oauth2 code at /sso/token/');
  t.equal(atSso.text, '{"error":"invalid_grant","error_description":"invalid code"}');

  const silent = await browserAuthorize(fx, seedClient.authorizeUrl(fx, 's2'), null, sso.jar);
  t.ok(silent.location.searchParams.get('code'), 'and /sso/oauth2/ too (same SSO cookie)');
  const otherClient = await call(`${fx.issuer}/sso/token/`, form({ grant_type: 'authorization_code', code: silent.location.searchParams.get('code')!, redirect_uri: CB, client_id: 'other', client_secret: SECRET }));
  t.equal(otherClient.text, '{"error":"invalid_grant","error_description":"invalid code"}', "another client's code");
  const replay = await seedClient.token(fx, sso.code);
  t.equal(replay.status, 400, 'a used (burned) code');
});

t.test('refresh reuse at /sso/refresh_token/ revokes the family', async (t) => {
  const fx = await boot(t);
  const first = await ssoTokens(t, fx);
  const second = await seedClient.refresh(fx, first.access_token, first.refresh_token!);
  t.equal(second.status, 200);
  const reuse = await seedClient.refresh(fx, first.access_token, first.refresh_token!);
  t.equal(reuse.status, 400);
  t.equal(reuse.text, '{"error":"invalid_grant","error_description":"invalid refresh_token"}');
  const next = await seedClient.refresh(fx, String(second.json!.access_token), String(second.json!.refresh_token));
  t.equal(next.status, 400, 'the current refresh token died with its family');
  const check = await seedClient.checkToken(fx, String(second.json!.access_token));
  t.equal(check.status, 401, "and so did the family's access token and its credentials");
});

t.test('refresh needs the access token issued with the refresh token', async (t) => {
  const fx = await boot(t);
  const mine = await ssoTokens(t, fx);
  const theirs = await ssoTokens(t, fx);
  const swapped = await seedClient.refresh(fx, theirs.access_token, mine.refresh_token!);
  t.equal(swapped.status, 401);
  t.equal(swapped.json!.error, 'invalid_token');
  const none = await call(`${fx.issuer}/sso/refresh_token/`, form({ grant_type: 'refresh_token', refresh_token: mine.refresh_token! }));
  t.equal(none.status, 401);
  t.equal(none.text, '{"error":"invalid_request","error_description":"missing bearer token"}');
  t.equal(none.headers.get('www-authenticate'), 'Bearer realm="menshen"');
  const forged = await seedClient.refresh(fx, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', mine.refresh_token!);
  t.equal(forged.status, 401, 'a forged bearer token');
  fx.clock.advance(301_000);
  const late = await seedClient.refresh(fx, mine.access_token, mine.refresh_token!);
  t.equal(late.status, 200, 'an expired access token still goes with its refresh token');
  const wrongGrant = await call(`${fx.issuer}/sso/refresh_token/`, bearerForm(String(late.json!.access_token), { grant_type: 'password', refresh_token: String(late.json!.refresh_token) }));
  t.equal(wrongGrant.status, 400);
  t.equal(wrongGrant.json!.error, 'unsupported_grant_type');
  const noRt = await call(`${fx.issuer}/sso/refresh_token/`, bearerForm(String(late.json!.access_token), { grant_type: 'refresh_token' }));
  t.equal(noRt.text, '{"error":"invalid_request","error_description":"missing refresh_token parameter"}');
});

t.test("/sso/refresh_token/ refreshes only families born at /sso/token/ (it takes no client secret)", async (t) => {
  const fx = await boot(t);
  const oidcUrl = `${fx.issuer}/oauth2/authorize?${new URLSearchParams({ client_id: APP, response_type: 'code', redirect_uri: CB, scope: 'openid' })}`;
  const { location } = await browserAuthorize(fx, oidcUrl, { username: 'alice', password: TEST_PASSWORD });
  const oidc = await call(`${fx.issuer}/oauth2/token`, form({ grant_type: 'authorization_code', code: location.searchParams.get('code')!, redirect_uri: CB, client_id: APP, client_secret: SECRET }));
  t.equal(oidc.status, 200);
  const stolen = await seedClient.refresh(fx, String(oidc.json!.access_token), String(oidc.json!.refresh_token));
  t.equal(stolen.status, 400, "a confidential client's /oauth2 family without its secret");
  t.equal(stolen.text, '{"error":"invalid_grant","error_description":"invalid refresh_token"}');
  const owner = await call(`${fx.issuer}/oauth2/token`, form({ grant_type: 'refresh_token', refresh_token: String(oidc.json!.refresh_token), client_id: APP, client_secret: SECRET }));
  t.equal(owner.status, 200, 'the refused attempt did not burn the token: its client still refreshes with its secret');
});

t.test('check_token after revocation and after expiry: 401', async (t) => {
  const fx = await boot(t);
  const a = await ssoTokens(t, fx);
  t.equal((await seedClient.checkToken(fx, a.access_token)).status, 200);
  const revoke = await call(`${fx.issuer}/oauth2/revoke`, form({ token: a.access_token, token_type_hint: 'access_token', client_id: APP, client_secret: SECRET }));
  t.equal(revoke.status, 200);
  const revoked = await seedClient.checkToken(fx, a.access_token);
  t.equal(revoked.status, 401);
  t.equal(revoked.json!.error, 'invalid_token');
  t.match(revoked.headers.get('www-authenticate'), /^Bearer realm="menshen", error="invalid_token"$/);

  const b = await ssoTokens(t, fx);
  t.equal((await seedClient.checkToken(fx, b.access_token)).status, 200);
  fx.clock.advance(300_000);
  t.equal((await seedClient.checkToken(fx, b.access_token)).status, 401, 'expired with the access token');
  t.equal((await seedClient.checkToken(fx, 'not-a-token')).status, 401);
  t.equal((await call(`${fx.issuer}/sso/check_token/`, { method: 'POST' })).status, 401, 'no bearer');
});

t.test('/sso errors are RFC 6749 JSON, never redirected for a bad client or redirect URI', async (t) => {
  const fx = await boot(t);
  const authorize = (p: Record<string, string>) => call(`${fx.issuer}/sso/oauth2/?${new URLSearchParams(p)}`);
  const unknown = await authorize({ client_id: 'ghost', response_type: 'code', redirect_uri: CB });
  t.equal(unknown.status, 400);
  t.equal(unknown.text, '{"error":"invalid_request","error_description":"unknown client_id"}');
  const badRedirect = await authorize({ client_id: APP, response_type: 'code', redirect_uri: 'http://evil.example/cb' });
  t.equal(badRedirect.status, 400);
  t.notOk(badRedirect.headers.get('location'));
  const noRedirect = await authorize({ client_id: APP, response_type: 'code' });
  t.equal(noRedirect.text, '{"error":"invalid_request","error_description":"missing redirect_uri parameter"}');
  const token = await authorize({ client_id: APP, response_type: 'token', redirect_uri: CB });
  t.equal(token.status, 400);
  t.equal(token.json!.error, 'unsupported_response_type');
  const both = await authorize({ client_id: APP, response_type: 'code', redirect_uri: CB, redirect_url: 'http://127.0.0.1:9/other' });
  t.equal(both.status, 400, 'redirect_uri and redirect_url disagree');
  const none = await authorize({ client_id: APP, response_type: 'code', redirect_uri: CB, prompt: 'none', state: 'q' });
  t.equal(none.status, 302, 'prompt=none without a session goes back to the client');
  const loc = new URL(none.headers.get('location')!);
  t.equal(loc.searchParams.get('error'), 'login_required');
  t.equal(loc.searchParams.get('state'), 'q');

  const post = (p: Record<string, string>, headers: Record<string, string> = {}) => {
    const f = form(p);
    return call(`${fx.issuer}/sso/token/`, { ...f, headers: { ...f.headers, ...headers } });
  };
  const wrongSecret = await post({ grant_type: 'authorization_code', code: 'x', redirect_uri: CB, client_id: APP, client_secret: 'wrong-wrong-wrong-wrong' });
  t.equal(wrongSecret.status, 401);
  t.equal(wrongSecret.text, '{"error":"invalid_client","error_description":"client authentication failed"}');
  const basicWrong = await post({ grant_type: 'authorization_code', code: 'x', redirect_uri: CB }, { authorization: basic(APP, 'nope-nope-nope-nope') });
  t.equal(basicWrong.headers.get('www-authenticate'), 'Basic realm="menshen"');
  const noGrant = await post({ code: 'x', client_id: APP, client_secret: SECRET });
  t.equal(noGrant.text, '{"error":"invalid_request","error_description":"missing grant_type parameter"}');
  const pwd = await post({ grant_type: 'password', client_id: APP, client_secret: SECRET });
  t.equal(pwd.json!.error, 'unsupported_grant_type');
  const noCode = await post({ grant_type: 'authorization_code', redirect_uri: CB, client_id: APP, client_secret: SECRET });
  t.equal(noCode.text, '{"error":"invalid_request","error_description":"missing code parameter"}');
  const unknownCode = await post({ grant_type: 'authorization_code', code: 'nope', redirect_uri: CB, client_id: APP, client_secret: SECRET });
  t.equal(unknownCode.text, '{"error":"invalid_grant","error_description":"invalid code"}');
  const dup = await call(`${fx.issuer}/sso/token/?grant_type=a&grant_type=b`, { method: 'POST' });
  t.equal(dup.text, '{"error":"invalid_request","error_description":"duplicate grant_type parameter"}');
  const nested = await call(`${fx.issuer}/sso/token/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":{"a":1}}' });
  t.equal(nested.status, 400);
  const broken = await call(`${fx.issuer}/sso/token/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":' });
  t.equal(broken.status, 400, 'malformed JSON is a 400, not a 500');
  t.equal(broken.json!.error, 'invalid_request');
  const xml = await call(`${fx.issuer}/sso/token/`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' });
  t.ok(xml.status >= 400 && xml.status < 500, `another content type is a 4xx (${xml.status})`);
});

t.test('the store holds no secret_key and no token in clear', async (t) => {
  const fx = await boot(t);
  const tok = await ssoTokens(t, fx, {}, 'opaque-app');
  const check = await seedClient.checkToken(fx, tok.access_token);
  const secret = String(check.json!.secret_key);
  const redis = new Redis(testRedisUrl());
  t.teardown(() => redis.quit());
  const keys = await redis.keys(`${fx.prefix}*`);
  t.ok(keys.some((k) => k.includes('ssocred:')), 'the credentials are stored');
  for (const k of keys) {
    const value = (await redis.type(k)) === 'string' ? ((await redis.get(k)) ?? '') : (await redis.smembers(k)).join(' ');
    for (const [name, s] of [['secret_key', secret], ['access token', tok.access_token], ['refresh token', tok.refresh_token!]] as const)
      t.notOk(k.includes(s) || value.includes(s), `no ${name} in ${k}`);
  }
});
