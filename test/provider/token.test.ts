/**
 * The token endpoint over raw HTTP, both families: exact bodies, statuses and headers of every
 * error string protocols.md §1 T2 and §5 give, client authentication, parameter handling, and the
 * password and client_credentials grants.
 */
import t from 'tap';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { LEGACY_SECRET, SVC_SECRET, TEST_PASSWORD, WEB_SECRET, basic, startProvider, token } from './helpers.js';

const JSON_TYPE = 'application/json;charset=UTF-8';

t.test('token endpoint', async (t) => {
  const f = await startProvider(t);
  const web = { client_id: 'web', client_secret: WEB_SECRET };
  const pw = (extra: Record<string, string>, path?: string) =>
    token(f, { grant_type: 'password', ...web, auth_source_id: 'pwd', username: 'alice', password: TEST_PASSWORD, ...extra }, path ? { path } : {});

  t.test('CIAM password grant success (seed 001 shape)', async (t) => {
    const r = await pw({ scope: 'openid' });
    t.equal(r.status, 200);
    t.equal(r.headers.get('content-type'), JSON_TYPE);
    t.equal(r.headers.get('cache-control'), 'no-store');
    t.same(Object.keys(r.json!).sort(), ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type']);
    t.equal(r.json!.token_type, 'Bearer');
    t.equal(r.json!.expires_in, 300);
    t.equal(r.json!.scope, 'openid');
    const header = decodeProtectedHeader(r.json!.access_token as string);
    t.equal(header.typ, 'at+jwt', 'RFC 9068 JWT access token');
    t.equal(header.alg, 'RS256');
    t.type(header.kid, 'string');
    const at = decodeJwt(r.json!.access_token as string);
    t.same(Object.keys(at).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'scope', 'sub'], 'CIAM access-token claims (§5.11)');
    t.same(at.scope, ['openid']);
    t.equal(at.aud, 'web');
    const id = decodeJwt(r.json!.id_token as string);
    t.equal(id.aud, 'web');
    t.equal(id.azp, 'web');
    t.equal(id.sub, at.sub);
    t.notOk('nonce' in id, 'no nonce without an authorization request');
    t.type(id.at_hash, 'string');
  });

  t.test('login by phone and email identifiers; case-insensitive username', async (t) => {
    t.equal((await pw({ username: '+8615088888888' })).status, 200);
    t.equal((await pw({ username: '15088888888' })).status, 200, 'bare mainland number normalized');
    t.equal((await pw({ username: 'Alice@Example.com' })).status, 200);
    t.equal((await pw({ username: 'ALICE' })).status, 200);
  });

  t.test('seed 001 password errors, verbatim', async (t) => {
    const wrong = await pw({ password: 'nope' });
    t.equal(wrong.status, 400);
    t.equal(wrong.headers.get('content-type'), JSON_TYPE);
    t.equal(wrong.text, '{"error":"invalid_grant","error_description":"Wrong username or password"}');
    t.equal((await pw({ username: 'nobody' })).text, '{"error":"invalid_grant","error_description":"Wrong username or password"}', 'unknown user alike');
    const frozen = await pw({ username: 'frozen' });
    t.equal(frozen.status, 400);
    t.equal(frozen.text, '{"error":"invalid_grant","error_description":"Abnormal user status"}');
    const ident = await pw({ auth_source_id: 'name-only', username: 'alice@example.com' });
    t.equal(ident.status, 400);
    t.equal(ident.text, '{"error":"invalid_grant","error_description":"Unsupported username identifier"}');
    t.equal((await pw({ auth_source_id: 'name-only', username: 'alice' })).status, 200, 'the username still works on that source');
    const spa = await token(f, { grant_type: 'password', client_id: 'spa', auth_source_id: 'name-only', username: 'alice', password: TEST_PASSWORD });
    t.equal(spa.status, 400);
    t.equal(spa.text, '{"error":"invalid_auth_source","error_description":"Auth source and application not associated"}');
    t.equal((await pw({ auth_source_id: 'ghost' })).json!.error, 'invalid_auth_source', 'unknown source');
    t.equal((await token(f, { grant_type: 'password', client_id: 'spa', username: 'alice', password: TEST_PASSWORD })).status, 200, 'public client, default source');
  });

  t.test('EIAM password grant: no refresh token, its own wrong-password answer', async (t) => {
    const r = await pw({}, '/auth/oauth2/token');
    t.equal(r.status, 200);
    t.equal(r.json!.refresh_token, '', '"refresh_token": "" (1442/62423)');
    t.equal(decodeJwt(r.json!.access_token as string).iss, `${f.issuer}/auth`);
    const wrong = await pw({ password: 'x' }, '/auth/oauth2/token');
    t.equal(wrong.status, 403);
    t.equal(wrong.text, '{"error":"unauthorized_client","error_description":"invalid user password"}');
    const missingUser = await token(f, { grant_type: 'password', ...web, password: 'x' }, { path: '/auth/oauth2/token' });
    t.equal(missingUser.status, 400);
    t.equal(missingUser.text, '{"error":"invalid_request","error_description":"missing username parameter"}');
    const missingPw = await token(f, { grant_type: 'password', ...web, username: 'alice' }, { path: '/auth/oauth2/token' });
    t.equal(missingPw.text, '{"error":"invalid_request","error_description":"missing password parameter"}');
  });

  t.test('EIAM mfa_required through the second-factor hook (§5.1)', async (t) => {
    const engine = f.app.menshenProvider.engine;
    const before = engine.secondFactor;
    t.teardown(() => {
      engine.secondFactor = before;
    });
    const seen: string[] = [];
    engine.secondFactor = {
      required: (user) => user.username === 'alice',
      beginGrant: async (p) => {
        seen.push(`${p.user.username}:${p.client.id}:${p.issueRefresh}`);
        return 'mfa-token-123';
      },
      beginInteraction: async () => '/login/sms',
    };
    const r = await pw({}, '/auth/oauth2/token');
    t.equal(r.status, 403);
    t.equal(r.text, '{"error":"mfa_required","error_description":"mfa required","mfa_token":"mfa-token-123"}');
    t.same(seen, ['alice:web:false']);
    t.equal((await pw({ username: 'bob' }, '/auth/oauth2/token')).status, 200, 'not required for bob');
  });

  t.test('EIAM: query-string parameters merged with the body, body wins', async (t) => {
    const q = new URLSearchParams({ grant_type: 'password', client_id: 'web', client_secret: WEB_SECRET, username: 'nobody', password: 'x' });
    const viaQuery = await fetch(`${f.issuer}/auth/oauth2/token?${q}`, { method: 'POST' });
    t.equal(viaQuery.status, 403, 'all in the query, no body');
    const body = new URLSearchParams({ username: 'alice', password: TEST_PASSWORD });
    const merged = await fetch(`${f.issuer}/auth/oauth2/token?${q}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
    });
    t.equal(merged.status, 200, 'the body overrides the query');
  });

  t.test('client authentication', async (t) => {
    const viaBasic = await token(f, { grant_type: 'password', username: 'alice', password: TEST_PASSWORD }, { headers: { authorization: basic('web', WEB_SECRET) } });
    t.equal(viaBasic.status, 200, 'client_secret_basic');
    const badBasic = await token(f, { grant_type: 'password', username: 'alice', password: TEST_PASSWORD }, { headers: { authorization: basic('web', 'wrong') } });
    t.equal(badBasic.status, 401);
    t.equal(badBasic.headers.get('www-authenticate'), 'Basic realm="menshen"');
    t.equal(badBasic.json!.error, 'invalid_client');
    const badPost = await pw({ client_secret: 'wrong-secret-0123456789' });
    t.equal(badPost.status, 401);
    t.equal(badPost.headers.get('www-authenticate'), null, 'no challenge without Basic');
    t.same(badPost.json, { error: 'invalid_client', error_description: 'client authentication failed' });
    t.equal((await pw({ client_id: 'ghost' })).status, 401, 'unknown client');
    t.equal((await token(f, { grant_type: 'password', client_id: 'web', username: 'alice', password: TEST_PASSWORD })).status, 401, 'confidential client without secret');
    const both = await token(f, { grant_type: 'password', client_secret: WEB_SECRET, username: 'alice', password: TEST_PASSWORD }, { headers: { authorization: basic('web', WEB_SECRET) } });
    t.equal(both.status, 400, 'two methods at once');
    const eiam = await token(f, { grant_type: 'password', client_id: 'web', client_secret: 'wrong-secret-0123456789', username: 'a', password: 'b' }, { path: '/auth/oauth2/token' });
    t.equal(eiam.status, 400);
    t.equal(eiam.text, '{"error":"invalid_request","error_description":"invalid client"}');
    const eiamBasic = await token(f, { grant_type: 'password', username: 'a', password: 'b' }, { path: '/auth/oauth2/token', headers: { authorization: basic('web', 'nope') } });
    t.equal(eiamBasic.status, 401, 'RFC 6749 §5.2: Basic failures are 401');
    t.equal(eiamBasic.headers.get('www-authenticate'), 'Basic realm="menshen"');
  });

  t.test('grant types', async (t) => {
    const unknown = await token(f, { grant_type: 'urn:example:nope', ...web });
    t.equal(unknown.status, 400);
    t.equal(unknown.json!.error, 'unsupported_grant_type');
    const eiamUnknown = await token(f, { grant_type: 'implicit', ...web }, { path: '/auth/oauth2/token' });
    t.equal(eiamUnknown.text, '{"error":"invalid_request","error_description":"invalid grant_type"}');
    const none = await token(f, { ...web });
    t.same(none.json, { error: 'invalid_request', error_description: 'missing grant_type parameter' });
    const notAllowed = await token(f, { grant_type: 'client_credentials', ...web });
    t.equal(notAllowed.status, 400);
    t.equal(notAllowed.json!.error, 'unauthorized_client');
    const eiamRefresh = await token(f, { grant_type: 'refresh_token', ...web }, { path: '/auth/oauth2/token' });
    t.equal(eiamRefresh.text, '{"error":"invalid_request","error_description":"missing refresh_token parameter"}');
    const eiamBadRefresh = await token(f, { grant_type: 'refresh_token', ...web, refresh_token: 'nope' }, { path: '/auth/oauth2/token' });
    t.equal(eiamBadRefresh.status, 401);
    t.equal(eiamBadRefresh.text, '{"error":"invalid_request","error_description":"invalid_token"}');
    const ciamBadRefresh = await token(f, { grant_type: 'refresh_token', ...web, refresh_token: 'nope' });
    t.equal(ciamBadRefresh.status, 400);
    t.equal(ciamBadRefresh.json!.error, 'invalid_grant');
  });

  t.test('client_credentials (T2 e)', async (t) => {
    const svc = { client_id: 'svc', client_secret: SVC_SECRET };
    const r = await token(f, { grant_type: 'client_credentials', ...svc, scope: 'identity_proofing' });
    t.equal(r.status, 200);
    t.same(Object.keys(r.json!).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    t.equal(decodeJwt(r.json!.access_token as string).sub, 'svc');
    t.equal(r.json!.scope, 'identity_proofing');
    const all = await token(f, { grant_type: 'client_credentials', ...svc });
    t.equal(all.json!.scope, 'identity_proofing reports');
    const bad = await token(f, { grant_type: 'client_credentials', ...svc, scope: 'root' });
    t.equal(bad.status, 400);
    t.equal(bad.json!.error, 'invalid_scope');
    const info = await fetch(`${f.issuer}/userinfo`, { headers: { authorization: `Bearer ${r.json!.access_token}` } });
    t.equal(info.status, 403, 'a client token has no user: insufficient_scope');
  });

  t.test('opaque access tokens for accessTokenFormat: opaque (EIAM style)', async (t) => {
    const r = await token(f, { grant_type: 'password', client_id: 'legacy', client_secret: LEGACY_SECRET, username: 'alice', password: TEST_PASSWORD }, { path: '/auth/oauth2/token' });
    t.match(r.json!.access_token, /^[0-9a-f]{32}$/);
    const info = await fetch(`${f.issuer}/auth/oauth2/userinfo`, { headers: { authorization: `Bearer ${r.json!.access_token}` } });
    t.equal(info.status, 200);
    t.same(await info.json(), {
      sub: decodeJwt(r.json!.id_token as string).sub,
      ou_id: '',
      phone_number: '+86-150****8888',
      email: 'alice@example.com',
      username: 'alice',
      nickname: 'ali',
    });
  });

  t.test('parameters: duplicates, content types, empty values', async (t) => {
    const dup = await fetch(`${f.issuer}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=password&client_id=web&client_secret=${WEB_SECRET}&username=alice&username=bob&password=x`,
    });
    t.equal(dup.status, 400);
    t.same(await dup.json(), { error: 'invalid_request', error_description: 'duplicate username parameter' });
    const json = await fetch(`${f.issuer}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'password' }) });
    t.equal(json.status, 400);
    t.equal(json.headers.get('content-type'), JSON_TYPE);
    t.equal(((await json.json()) as { error: string }).error, 'invalid_request');
    const text = await fetch(`${f.issuer}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'grant_type=password' });
    t.equal(text.status, 400, 'a body fastify can parse, but not a form');
    t.equal(((await text.json()) as { error_description: string }).error_description, 'request body must be application/x-www-form-urlencoded');
    const xml = await fetch(`${f.issuer}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' });
    t.equal(xml.status, 415, 'no parser at all: fastify 415, in our error shape');
    t.equal(xml.headers.get('content-type'), JSON_TYPE);
    t.equal(((await xml.json()) as { error: string }).error, 'invalid_request');
    const empty = await pw({ username: '' });
    t.equal(empty.json!.error_description, 'missing username parameter', 'empty means absent (RFC 6749 §3.1)');
  });
});
