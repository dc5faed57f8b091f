/**
 * userinfo (T4), revocation (T7) and introspection (RFC 7662) over raw HTTP, both families,
 * exact bodies and WWW-Authenticate headers.
 */
import t from 'tap';
import { LEGACY_SECRET, SVC_SECRET, TEST_PASSWORD, WEB_SECRET, basic, form, startProvider, token, type ProviderFixture } from './helpers.js';

const RFC6750 = 'error_uri="https://tools.ietf.org/html/rfc6750#section-3.1"';

async function login(f: ProviderFixture, scope = 'openid profile email', client = { client_id: 'web', client_secret: WEB_SECRET }) {
  const r = await token(f, { grant_type: 'password', ...client, username: 'alice', password: TEST_PASSWORD, scope });
  return r.json as { access_token: string; refresh_token: string; id_token: string };
}

t.test('userinfo', async (t) => {
  const f = await startProvider(t);
  const get = (path: string, auth?: string) => fetch(`${f.issuer}${path}`, { headers: auth ? { authorization: auth } : {} });

  t.test('CIAM /userinfo claims by scope', async (t) => {
    const { access_token } = await login(f);
    const r = await get('/userinfo', `Bearer ${access_token}`);
    t.equal(r.status, 200);
    t.equal(r.headers.get('content-type'), 'application/json;charset=UTF-8');
    const body = (await r.json()) as Record<string, unknown>;
    t.same(Object.keys(body).sort(), ['email', 'groups', 'name', 'nickname', 'preferred_username', 'sub']);
    const narrow = await login(f, 'openid');
    t.same(Object.keys((await (await get('/userinfo', `Bearer ${narrow.access_token}`)).json()) as object), ['sub'], 'openid alone: sub only');
    const viaPost = await fetch(`${f.issuer}/userinfo`, form({ access_token }));
    t.equal(viaPost.status, 200, 'RFC 6750 §2.2 form body');
  });

  t.test('CIAM RFC 6750 errors exactly as T4', async (t) => {
    const none = await get('/userinfo');
    t.equal(none.status, 400);
    t.equal(none.headers.get('www-authenticate'), `Bearer error="invalid_request", error_description="Bearer token not found in the request", ${RFC6750}`);
    for (const bad of ['garbage', 'a.b.c', '0123456789abcdef0123456789abcdef']) {
      const r = await get('/userinfo', `Bearer ${bad}`);
      t.equal(r.status, 401, bad);
      t.equal(r.headers.get('www-authenticate'), `Bearer error="invalid_token", error_description="Error decoding JWT", ${RFC6750}`);
    }
    const svc = await token(f, { grant_type: 'client_credentials', client_id: 'svc', client_secret: SVC_SECRET });
    const noOpenid = await get('/userinfo', `Bearer ${svc.json!.access_token}`);
    t.equal(noOpenid.status, 403);
    t.match(noOpenid.headers.get('www-authenticate'), /^Bearer error="insufficient_scope", error_description="[^"]+", error_uri="https:\/\/tools\.ietf\.org\/html\/rfc6750#section-3\.1"$/);
  });

  t.test('EIAM /auth/oauth2/userinfo shape and error', async (t) => {
    const { access_token } = await login(f, 'openid');
    const r = await get('/auth/oauth2/userinfo', `Bearer ${access_token}`);
    t.equal(r.status, 200);
    const body = (await r.json()) as Record<string, string>;
    t.same(Object.keys(body), ['sub', 'ou_id', 'phone_number', 'email', 'username', 'nickname']);
    t.equal(body.phone_number, '+86-150****8888');
    const bob = (await token(f, { grant_type: 'password', client_id: 'web', client_secret: WEB_SECRET, username: 'bob', password: TEST_PASSWORD })).json!;
    const empty = (await (await get('/auth/oauth2/userinfo', `Bearer ${String(bob.access_token)}`)).json()) as Record<string, string>;
    t.same({ ...empty, sub: '' }, { sub: '', ou_id: '', phone_number: '', email: '', username: 'bob', nickname: '' }, 'empty strings when unset');
    const bad = await get('/auth/oauth2/userinfo', 'Bearer nope');
    t.equal(bad.status, 401);
    t.equal(await bad.text(), '{"error":"invalid_request","error_description":"invalid_token"}');
  });
});

t.test('revocation', async (t) => {
  const f = await startProvider(t);
  const info = (at: string) => fetch(`${f.issuer}/userinfo`, { headers: { authorization: `Bearer ${at}` } }).then((r) => r.status);
  const refresh = (rt: string) => token(f, { grant_type: 'refresh_token', client_id: 'web', client_secret: WEB_SECRET, refresh_token: rt });

  t.test('CIAM POST /oauth2/revoke (T7)', async (t) => {
    const a = await login(f);
    const r = await fetch(`${f.issuer}/oauth2/revoke`, form({ client_id: 'web', client_secret: WEB_SECRET, token: a.access_token }));
    t.equal(r.status, 200);
    t.equal(await r.text(), '', 'bare 200');
    t.equal(await info(a.access_token), 401, 'access token revoked');
    t.equal((await refresh(a.refresh_token)).status, 200, 'revoking the access token leaves the refresh token');

    const b = await login(f);
    await fetch(`${f.issuer}/oauth2/revoke`, form({ client_id: 'web', client_secret: WEB_SECRET, token: b.refresh_token }));
    t.equal(await info(b.access_token), 401, 'refresh token revoked with its access token');
    t.equal((await refresh(b.refresh_token)).json!.error, 'invalid_grant');

    const wrong = await fetch(`${f.issuer}/oauth2/revoke`, form({ client_id: 'web', client_secret: 'wrong-secret-0123456789', token: 'x' }));
    t.equal(wrong.status, 401);
    t.equal(await wrong.text(), '{"error":"invalid_client"}');
    const unknown = await fetch(`${f.issuer}/oauth2/revoke`, form({ client_id: 'web', client_secret: WEB_SECRET, token: 'never-issued' }));
    t.equal(unknown.status, 200, 'RFC 7009 §2.2: unknown tokens are fine');

    const c = await login(f);
    const foreign = await fetch(`${f.issuer}/oauth2/revoke`, form({ client_id: 'legacy', client_secret: LEGACY_SECRET, token: c.refresh_token }));
    t.equal(foreign.status, 200);
    t.equal((await refresh(c.refresh_token)).status, 200, "another client cannot revoke web's token");
  });

  t.test('revoking a refresh token that was just rotated revokes its family', async (t) => {
    const a = await login(f);
    const rotated = (await refresh(a.refresh_token)).json as { access_token: string; refresh_token: string };
    const foreign = await fetch(`${f.issuer}/oauth2/revoke`, form({ client_id: 'legacy', client_secret: LEGACY_SECRET, token: a.refresh_token }));
    t.equal(foreign.status, 200);
    t.equal(await info(rotated.access_token), 200, "another client cannot revoke web's family through an old token");
    // The client (e.g. a gateway logging out mid-refresh) still holds the token it just rotated.
    const r = await fetch(`${f.issuer}/oauth2/revoke`, form({ client_id: 'web', client_secret: WEB_SECRET, token: a.refresh_token }));
    t.equal(r.status, 200);
    t.equal(await info(rotated.access_token), 401, "the family's current access token is revoked");
    t.equal((await refresh(rotated.refresh_token)).json!.error, 'invalid_grant', 'and its current refresh token');
  });

  t.test('EIAM GET /auth/oauth2/revoke (T7)', async (t) => {
    const a = await login(f);
    const q = new URLSearchParams({ client_id: 'web', client_secret: WEB_SECRET, token: a.refresh_token, token_type_hint: 'refresh_token' });
    const r = await fetch(`${f.issuer}/auth/oauth2/revoke?${q}`);
    t.equal(r.status, 200);
    t.equal(await r.text(), '{"success":"ok","message":"invalidate token success"}');
    t.equal(await info(a.access_token), 401);
    const bad = await fetch(`${f.issuer}/auth/oauth2/revoke?${new URLSearchParams({ client_id: 'web', client_secret: 'nope', token: 'x' })}`);
    t.equal(bad.status, 400);
    t.equal(await bad.text(), '{"error":"invalid_request","error_description":"invalid client"}');
  });
});

t.test('introspection (RFC 7662)', async (t) => {
  const f = await startProvider(t);
  const introspect = (tok: string, auth = basic('legacy', LEGACY_SECRET)) =>
    fetch(`${f.issuer}/oauth2/introspect`, { ...form({ token: tok }), headers: { ...form({}).headers, authorization: auth } });
  const a = await login(f);
  const asWeb = basic('web', WEB_SECRET);

  t.same(await (await introspect(a.access_token)).json(), { active: false }, "another client's access token is not disclosed (no username, sub or scope)");
  const legacyTokens = await login(f, 'openid', { client_id: 'legacy', client_secret: LEGACY_SECRET });
  t.same(await (await introspect(legacyTokens.access_token, asWeb)).json(), { active: false }, 'nor the other way round');
  t.equal(((await (await introspect(legacyTokens.access_token)).json()) as { active: boolean }).active, true, 'a client introspects its own tokens');

  const active = await introspect(a.access_token, asWeb);
  t.equal(active.status, 200);
  const body = (await active.json()) as Record<string, unknown>;
  t.equal(body.active, true);
  t.equal(body.client_id, 'web');
  t.equal(body.username, 'alice');
  t.equal(body.scope, 'openid profile email');
  t.equal(body.token_type, 'Bearer');
  t.equal(body.iss, f.issuer);

  t.same(await (await introspect(a.refresh_token)).json(), { active: false }, "another client's refresh token is not disclosed");
  const own = (await (await introspect(a.refresh_token, basic('web', WEB_SECRET))).json()) as Record<string, unknown>;
  t.equal(own.active, true);
  t.equal(own.token_type, 'refresh_token');
  t.same(await (await introspect('garbage')).json(), { active: false });

  await fetch(`${f.issuer}/oauth2/revoke`, form({ client_id: 'web', client_secret: WEB_SECRET, token: a.refresh_token }));
  t.same(await (await introspect(a.access_token, asWeb)).json(), { active: false }, 'revoked');

  const pub = await fetch(`${f.issuer}/oauth2/introspect`, form({ client_id: 'spa', token: a.access_token }));
  t.equal(pub.status, 401, 'public clients may not introspect');
  t.equal(((await pub.json()) as { error: string }).error, 'invalid_client');
  const wrong = await introspect('x', basic('web', 'nope'));
  t.equal(wrong.status, 401);
  t.equal(wrong.headers.get('www-authenticate'), 'Basic realm="menshen"');
});
