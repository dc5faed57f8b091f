/**
 * RFC 8693 token exchange at both token endpoints over raw HTTP, on the suite's Redis: the §2.2.1
 * body, audience and scope of the issued token, the subject token types (our access tokens, JWT
 * and opaque, and our id tokens), every refusal with its exact body (EIAM's `suject_token` typos
 * included), revocation, rotation, expiry and logout of the subject (an id token dies with the
 * access token issued with it), and discovery.
 */
import t from 'tap';
import { decodeJwt } from 'jose';
import { CB, LEGACY_SECRET, SVC_SECRET, TEST_PASSWORD, WEB_SECRET, authorizeUrl, basic, browserAuthorize, form, startProvider, token } from './helpers.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const IDT = 'urn:ietf:params:oauth:token-type:id_token';
const EIAM_TOKEN = '/auth/oauth2/token';
const API_SECRET = 'api-secret-0123456789abcdef';
const OPAQUE_SECRET = 'api-opaque-secret-0123456789';

const extraClients = `
    - clientId: api
      clientSecret: ${API_SECRET}
      grants: [token_exchange]
      scopes: [reports]
    - clientId: api-opaque
      clientSecret: ${OPAQUE_SECRET}
      grants: [token_exchange]
      accessTokenFormat: opaque
`;

const api = { client_id: 'api', client_secret: API_SECRET };

t.test('token exchange (RFC 8693)', async (t) => {
  const f = await startProvider(t, { store: 'redis', extraClients });
  const exchange = (params: Record<string, string>, path?: string, headers?: Record<string, string>) =>
    token(f, { grant_type: GRANT, ...params }, { ...(path ? { path } : {}), ...(headers ? { headers } : {}) });
  /** alice's tokens from the password grant of client `web` */
  const aliceTokens = async (scope = 'openid profile email') => {
    const r = await token(f, { grant_type: 'password', client_id: 'web', client_secret: WEB_SECRET, auth_source_id: 'pwd', username: 'alice', password: TEST_PASSWORD, scope });
    if (r.status !== 200) throw new Error(`password grant answered ${r.status}: ${r.text}`);
    return r.json as { access_token: string; id_token: string; refresh_token: string };
  };
  const userinfo = (accessToken: string, path = '/userinfo') => fetch(`${f.issuer}${path}`, { headers: { authorization: `Bearer ${accessToken}` } });

  t.test('CIAM: an access token for the same user, audience = the requesting client (§2.2.1)', async (t) => {
    const subject = await aliceTokens();
    const r = await exchange({ ...api, subject_token: subject.access_token, subject_token_type: AT });
    t.equal(r.status, 200);
    t.equal(r.headers.get('content-type'), 'application/json;charset=UTF-8');
    t.equal(r.headers.get('cache-control'), 'no-store');
    t.same(Object.keys(r.json!), ['access_token', 'issued_token_type', 'token_type', 'expires_in', 'scope'], 'no refresh_token, no id_token');
    t.equal(r.json!.issued_token_type, AT);
    t.equal(r.json!.token_type, 'Bearer');
    t.equal(r.json!.expires_in, 300);
    t.equal(r.json!.scope, 'openid profile email', 'no scope asked: the subject token\'s');
    const before = decodeJwt(subject.access_token);
    const after = decodeJwt(r.json!.access_token as string);
    t.equal(after.aud, 'api');
    t.equal(after.sub, before.sub, 'same user');
    t.equal(after.iss, f.issuer, 'issued by the family that was asked');
    t.not(after.jti, before.jti);
    const info = await userinfo(r.json!.access_token as string);
    t.equal(info.status, 200, 'the new token is live');
    t.same(await info.json(), { sub: before.sub, preferred_username: 'alice', name: 'Alice', nickname: 'ali', groups: ['staff', 'admins'], email: 'alice@example.com' });
    t.equal((await userinfo(subject.access_token)).status, 200, 'the subject token stays live');
  });

  t.test('scope: the request intersected with the subject token\'s and the client\'s', async (t) => {
    const subject = await aliceTokens('openid profile email');
    const narrowed = await exchange({ ...api, subject_token: subject.access_token, subject_token_type: AT, scope: 'openid email phone reports' });
    t.equal(narrowed.status, 200);
    t.equal(narrowed.json!.scope, 'openid email', 'phone and reports were never granted to the subject');
    t.same(decodeJwt(narrowed.json!.access_token as string).scope, ['openid', 'email']);
    const disjoint = await exchange({ ...api, subject_token: subject.access_token, subject_token_type: AT, scope: 'phone' });
    t.equal(disjoint.status, 400);
    t.equal(disjoint.text, '{"error":"invalid_scope","error_description":"no requested scope is within the subject token\'s scope"}');
    // An exchanged token can itself be exchanged, never to more than it had.
    const again = await exchange({ ...api, subject_token: narrowed.json!.access_token as string, subject_token_type: AT, scope: 'openid profile' });
    t.equal(again.json!.scope, 'openid');
  });

  t.test('EIAM: the same exchange; opaque tokens in and out', async (t) => {
    const legacy = await token(f, { grant_type: 'password', client_id: 'legacy', client_secret: LEGACY_SECRET, username: 'alice', password: TEST_PASSWORD }, { path: EIAM_TOKEN });
    t.match(legacy.json!.access_token, /^[0-9a-f]{32}$/);
    const r = await exchange({ client_id: 'api-opaque', client_secret: OPAQUE_SECRET, subject_token: legacy.json!.access_token as string, subject_token_type: AT }, EIAM_TOKEN);
    t.equal(r.status, 200);
    t.same(Object.keys(r.json!), ['access_token', 'issued_token_type', 'token_type', 'expires_in', 'scope']);
    t.match(r.json!.access_token, /^[0-9a-f]{32}$/, 'the requesting client\'s token format');
    t.not(r.json!.access_token, legacy.json!.access_token);
    t.equal(r.json!.scope, 'openid');
    const info = await userinfo(r.json!.access_token as string, '/auth/oauth2/userinfo');
    t.equal(info.status, 200);
    t.equal(((await info.json()) as { username: string }).username, 'alice');
    const introspected = await fetch(`${f.issuer}/auth/oauth2/introspect`, {
      ...form({ token: r.json!.access_token as string }),
      // Introspection answers only about the caller's own tokens: the requesting client asks.
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('api-opaque', OPAQUE_SECRET) },
    });
    const body = (await introspected.json()) as Record<string, unknown>;
    t.equal(body.active, true);
    t.equal(body.client_id, 'api-opaque', 'the token belongs to the requesting client');
    t.equal(body.username, 'alice');
  });

  t.test('id tokens of this provider are accepted as subject tokens', async (t) => {
    const subject = await aliceTokens('openid profile email');
    const r = await exchange({ ...api, subject_token: subject.id_token, subject_token_type: IDT });
    t.equal(r.status, 200);
    t.equal(r.json!.issued_token_type, AT);
    t.equal(r.json!.scope, 'openid profile email', 'read back from the claims the id token released');
    t.equal(decodeJwt(r.json!.access_token as string).sub, decodeJwt(subject.id_token).sub);
    const bare = await aliceTokens('openid');
    t.equal((await exchange({ ...api, subject_token: bare.id_token, subject_token_type: IDT })).json!.scope, 'openid');
  });

  t.test('a token presented as the other type is refused', async (t) => {
    const subject = await aliceTokens();
    const idAsAccess = await exchange({ ...api, subject_token: subject.id_token, subject_token_type: AT });
    t.equal(idAsAccess.status, 400);
    t.equal(idAsAccess.text, '{"error":"invalid_request","error_description":"invalid subject_token"}');
    const accessAsId = await exchange({ ...api, subject_token: subject.access_token, subject_token_type: IDT });
    t.equal(accessAsId.text, '{"error":"invalid_request","error_description":"invalid subject_token"}');
    const refreshAsAccess = await exchange({ ...api, subject_token: subject.refresh_token, subject_token_type: AT });
    t.equal(refreshAsAccess.text, '{"error":"invalid_request","error_description":"invalid subject_token"}');
  });

  t.test('dead subject tokens: invalid_request on both families (RFC 8693 §2.2.2)', async (t) => {
    const forgedHeader = Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url');
    const aliceAt = decodeJwt((await aliceTokens()).access_token);
    const forgedPayload = Buffer.from(JSON.stringify({ ...aliceAt, aud: 'api' })).toString('base64url');
    const svc = await token(f, { grant_type: 'client_credentials', client_id: 'svc', client_secret: SVC_SECRET });
    const cases: Array<[string, string, string]> = [
      ['garbage', 'not-a-token', AT],
      ['unknown opaque', '0123456789abcdef0123456789abcdef', AT],
      ['alg none', `${forgedHeader}.${forgedPayload}.`, AT],
      ['alg none as id token', `${forgedHeader}.${forgedPayload}.`, IDT],
      ['a client token has no user', svc.json!.access_token as string, AT],
      ['oversized', 'a'.repeat(9000), AT],
    ];
    for (const [why, subject, type] of cases) {
      for (const path of [undefined, EIAM_TOKEN]) {
        const r = await exchange({ ...api, subject_token: subject, subject_token_type: type }, path);
        t.equal(r.status, 400, `${why} ${path ?? 'CIAM'}`);
        t.equal(r.text, '{"error":"invalid_request","error_description":"invalid subject_token"}', why);
      }
    }
  });

  t.test('a revoked subject token is refused', async (t) => {
    const subject = await aliceTokens();
    const revoke = await fetch(`${f.issuer}/oauth2/revoke`, form({ client_id: 'web', client_secret: WEB_SECRET, token: subject.access_token }));
    t.equal(revoke.status, 200);
    const r = await exchange({ ...api, subject_token: subject.access_token, subject_token_type: AT });
    t.equal(r.status, 400);
    t.equal(r.text, '{"error":"invalid_request","error_description":"invalid subject_token"}');
    // Refreshing rotates the family: the access token issued with the old refresh token dies too.
    const rotated = await aliceTokens();
    const refreshed = await token(f, { grant_type: 'refresh_token', client_id: 'web', client_secret: WEB_SECRET, refresh_token: rotated.refresh_token });
    t.equal(refreshed.status, 200);
    t.equal((await exchange({ ...api, subject_token: rotated.access_token, subject_token_type: AT })).json!.error, 'invalid_request', 'rotated out');
    t.equal((await exchange({ ...api, subject_token: refreshed.json!.access_token as string, subject_token_type: AT })).status, 200, 'its successor works');
  });

  t.test('an expired subject token is refused (injected clock)', async (t) => {
    const subject = await aliceTokens();
    f.clock.advance(301_000);
    const r = await exchange({ ...api, subject_token: subject.access_token, subject_token_type: AT });
    t.equal(r.text, '{"error":"invalid_request","error_description":"invalid subject_token"}', 'access token past its 300 s');
    const id = await exchange({ ...api, subject_token: subject.id_token, subject_token_type: IDT });
    t.equal(id.text, '{"error":"invalid_request","error_description":"invalid subject_token"}', 'the id token exchanges no longer than its access token lives');
  });

  t.test('an id token dies with its grant: refresh revoked or rotated, access token revoked (T2 c, RFC 7009 §2.1)', async (t) => {
    const dead = '{"error":"invalid_request","error_description":"invalid subject_token"}';
    const viaId = (s: { id_token: string }, path?: string) => exchange({ ...api, subject_token: s.id_token, subject_token_type: IDT }, path);

    const revoked = await aliceTokens();
    t.equal(decodeJwt(revoked.id_token).sid, undefined, 'a password-grant id token names no SSO session');
    t.equal((await viaId(revoked)).status, 200, 'live before');
    const rr = await fetch(`${f.issuer}/oauth2/revoke`, form({ client_id: 'web', client_secret: WEB_SECRET, token: revoked.refresh_token }));
    t.equal(rr.status, 200);
    t.equal((await viaId(revoked)).text, dead, 'refresh token revoked: its id token no longer exchanges');
    t.equal((await viaId(revoked, EIAM_TOKEN)).text, dead, 'at the EIAM token endpoint neither');

    const rotated = await aliceTokens();
    const refreshed = await token(f, { grant_type: 'refresh_token', client_id: 'web', client_secret: WEB_SECRET, refresh_token: rotated.refresh_token });
    t.equal(refreshed.status, 200);
    t.equal((await viaId(rotated)).text, dead, 'rotated out: the old id token is invalidated with the old access and refresh tokens');
    t.equal((await viaId(refreshed.json as { id_token: string })).status, 200, 'its successor works');

    const accessRevoked = await aliceTokens();
    const ar = await fetch(`${f.issuer}/oauth2/revoke`, form({ client_id: 'web', client_secret: WEB_SECRET, token: accessRevoked.access_token }));
    t.equal(ar.status, 200);
    t.equal((await viaId(accessRevoked)).text, dead, 'the access token issued with it revoked');

    // One of ours without the access token binding (signed by the provider's key, e.g. before it existed) fails closed.
    const { at_key: atKey, ...claims } = decodeJwt(refreshed.json!.id_token as string);
    t.type(atKey, 'string', 'id tokens name their access token');
    const unbound = await f.app.menshenProvider.engine.keys.sign(claims);
    t.equal((await exchange({ ...api, subject_token: unbound, subject_token_type: IDT })).text, dead, 'no at_key: refused');
  });

  t.test('logout: the session\'s id token stops exchanging, the exchanged token is revoked with it', async (t) => {
    const { location, jar } = await browserAuthorize(f, authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid profile' }), {
      username: 'alice',
      password: TEST_PASSWORD,
    });
    const code = await token(f, { grant_type: 'authorization_code', client_id: 'web', client_secret: WEB_SECRET, code: location.searchParams.get('code')!, redirect_uri: CB });
    t.equal(code.status, 200);
    const subject = code.json as { access_token: string; id_token: string };
    t.type(decodeJwt(subject.id_token).sid, 'string', 'a session-bound id token');
    const viaId = await exchange({ ...api, subject_token: subject.id_token, subject_token_type: IDT });
    const viaAt = await exchange({ ...api, subject_token: subject.access_token, subject_token_type: AT });
    t.equal(viaId.status, 200);
    t.equal(viaAt.status, 200);
    t.equal((await userinfo(viaAt.json!.access_token as string)).status, 200);

    const logout = await fetch(`${f.issuer}/auth/sso/logout`, { headers: { cookie: jar.header() }, redirect: 'manual' });
    t.equal(logout.status, 200);
    t.equal((await userinfo(viaId.json!.access_token as string)).status, 401, 'exchanged from the id token: revoked by logout');
    t.equal((await userinfo(viaAt.json!.access_token as string)).status, 401, 'exchanged from the access token: revoked by logout');
    const after = await exchange({ ...api, subject_token: subject.id_token, subject_token_type: IDT });
    t.equal(after.text, '{"error":"invalid_request","error_description":"invalid subject_token"}', 'the id token\'s session has ended');
  });

  t.test('missing parameters: RFC wording on CIAM, EIAM\'s own (typos kept, 1442/62558)', async (t) => {
    const subject = await aliceTokens();
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ subject_token_type: AT }, 'missing subject_token parameter', 'missing suject_token parameter'],
      [{ subject_token: subject.access_token }, 'missing subject_token_type parameter', 'missing suject_token_type parameter'],
      [{}, 'missing subject_token parameter', 'missing suject_token parameter'],
    ];
    for (const [params, ciamText, eiamText] of cases) {
      const ciam = await exchange({ ...api, ...params });
      t.equal(ciam.status, 400);
      t.equal(ciam.text, JSON.stringify({ error: 'invalid_request', error_description: ciamText }));
      const eiam = await exchange({ ...api, ...params }, EIAM_TOKEN);
      t.equal(eiam.status, 400);
      t.equal(eiam.headers.get('content-type'), 'application/json;charset=UTF-8');
      t.equal(eiam.text, JSON.stringify({ error: 'invalid_request', error_description: eiamText }));
    }
  });

  t.test('unsupported token types and options: invalid_request / invalid_target', async (t) => {
    const subject = (await aliceTokens()).access_token;
    const base = { ...api, subject_token: subject };
    const cases: Array<[Record<string, string>, string, string]> = [
      [
        { subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' },
        '{"error":"invalid_request","error_description":"unsupported subject_token_type"}',
        '{"error":"invalid_request","error_description":"invalid subject_token_type"}',
      ],
      [
        { subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' },
        '{"error":"invalid_request","error_description":"unsupported subject_token_type"}',
        '{"error":"invalid_request","error_description":"invalid subject_token_type"}',
      ],
      [
        { subject_token_type: AT, requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' },
        '{"error":"invalid_request","error_description":"only access tokens are issued"}',
        '{"error":"invalid_request","error_description":"invalid requested_token_type"}',
      ],
      [
        { subject_token_type: AT, actor_token: subject, actor_token_type: AT },
        '{"error":"invalid_request","error_description":"delegation (actor_token) is not supported"}',
        '{"error":"invalid_request","error_description":"invalid actor_token"}',
      ],
      [
        { subject_token_type: AT, actor_token_type: AT },
        '{"error":"invalid_request","error_description":"actor_token_type without actor_token"}',
        '{"error":"invalid_request","error_description":"invalid actor_token_type"}',
      ],
      [
        { subject_token_type: AT, audience: 'web' },
        '{"error":"invalid_target","error_description":"audience must be the requesting client"}',
        '{"error":"invalid_target","error_description":"audience must be the requesting client"}',
      ],
      [
        { subject_token_type: AT, resource: 'https://api.example.com/' },
        '{"error":"invalid_target","error_description":"resource indicators are not supported"}',
        '{"error":"invalid_target","error_description":"resource indicators are not supported"}',
      ],
    ];
    for (const [params, ciamText, eiamText] of cases) {
      const ciam = await exchange({ ...base, ...params });
      t.equal(ciam.status, 400, ciamText);
      t.equal(ciam.text, ciamText);
      const eiam = await exchange({ ...base, ...params }, EIAM_TOKEN);
      t.equal(eiam.status, 400, eiamText);
      t.equal(eiam.text, eiamText);
    }
    const explicit = await exchange({ ...base, subject_token_type: AT, audience: 'api', requested_token_type: AT });
    t.equal(explicit.status, 200, 'audience = the client itself and requested_token_type access_token are fine');
  });

  t.test('only confidential clients that list token_exchange', async (t) => {
    const subject = (await aliceTokens()).access_token;
    const params = { subject_token: subject, subject_token_type: AT };
    const notListed = await exchange({ client_id: 'web', client_secret: WEB_SECRET, ...params });
    t.equal(notListed.status, 400);
    t.equal(notListed.text, `{"error":"unauthorized_client","error_description":"client may not use grant_type ${GRANT}"}`);
    // A public client listing token_exchange is refused by the config check (test/config/load.test.ts).
    const noSecret = await exchange({ client_id: 'api', ...params });
    t.equal(noSecret.status, 401, 'a confidential client without its secret');
    t.same(noSecret.json, { error: 'invalid_client', error_description: 'client authentication failed' });
    const eiamNoSecret = await exchange({ client_id: 'api', ...params }, EIAM_TOKEN);
    t.equal(eiamNoSecret.text, '{"error":"invalid_request","error_description":"invalid client"}');
    const viaBasic = await exchange(params, undefined, { authorization: basic('api', API_SECRET) });
    t.equal(viaBasic.status, 200, 'client_secret_basic');
    const token_exchange = await token(f, { grant_type: 'token_exchange', ...api, ...params });
    t.equal(token_exchange.json!.error, 'unsupported_grant_type', 'the config name is not a grant_type');
  });

  t.test('discovery lists the grant on both families', async (t) => {
    for (const path of ['/.well-known/openid-configuration', '/auth/.well-known/openid-configuration']) {
      const doc = (await (await fetch(`${f.issuer}${path}`)).json()) as { grant_types_supported: string[] };
      t.ok(doc.grant_types_supported.includes(GRANT), path);
      t.notOk(doc.grant_types_supported.includes('token_exchange'), `${path}: the wire name only`);
    }
  });
});
