/**
 * Logout (T8, §5.6) and OIDC Back-Channel Logout 1.0: a real listener receives the logout_token,
 * which is verified against the provider's JWKS.
 */
import t from 'tap';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { CB, TEST_PASSWORD, WEB_SECRET, authorizeUrl, backchannelReceiver, browserAuthorize, startProvider, token } from './helpers.js';

t.test('logout', async (t) => {
  const receiver = await backchannelReceiver(t);
  const f = await startProvider(t, {
    extraClients: `    - clientId: rp
      clientSecret: rp-secret-0123456789abcdef
      redirectUris: ["${CB}"]
      grants: [authorization_code, refresh_token]
      backchannelLogoutUri: "${receiver.url}"
`,
  });
  const signIn = async (clientId: string, jar?: Parameters<typeof browserAuthorize>[3]) =>
    browserAuthorize(f, authorizeUrl(f, { client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid' }), { username: 'alice', password: TEST_PASSWORD }, jar);

  t.test('CIAM /logout parameters (T8)', async (t) => {
    const get = (q: Record<string, string>) => fetch(`${f.issuer}/logout?${new URLSearchParams(q)}`, { redirect: 'manual' });
    const none = await get({});
    t.equal(none.status, 400);
    t.equal(await none.text(), '{"error":"invalid_request","error_description":"Client ID parameter not found"}');
    const ok = await get({ client_id: 'web', logout_redirect_uri: 'http://127.0.0.1:9/bye', state: 'abc' });
    t.equal(ok.status, 302);
    t.equal(ok.headers.get('location'), 'http://127.0.0.1:9/bye?state=abc');
    const only = await get({ client_id: 'web' });
    t.equal(only.headers.get('location'), 'http://127.0.0.1:9/bye', 'the only registered URI when omitted');
    const foreign = await get({ client_id: 'web', logout_redirect_uri: 'http://evil.example/' });
    t.equal(foreign.status, 400, 'unregistered: no open redirect');
    t.equal(foreign.headers.get('location'), null);
    const several = await get({ client_id: 'spa' });
    t.equal(several.status, 200, 'several registered and none named: a signed-out page');
    t.match(await several.text(), /signed out/);
    t.equal((await get({ client_id: 'ghost' })).status, 400);
    const forged = await get({ id_token_hint: 'eyJhbGciOiJub25lIn0.eyJhdWQiOiJ3ZWIifQ.' });
    t.equal(forged.status, 400, 'an unsigned id_token_hint is refused');
  });

  t.test('ending the session sends a back-channel logout_token and revokes its tokens', async (t) => {
    const first = await signIn('rp');
    const second = await signIn('web', first.jar);
    const code = second.location.searchParams.get('code')!;
    const web = await token(f, { grant_type: 'authorization_code', client_id: 'web', client_secret: WEB_SECRET, code, redirect_uri: CB });
    const received = receiver.next();
    const out = await fetch(`${f.issuer}/logout?client_id=web`, { redirect: 'manual', headers: { cookie: first.jar.header() } });
    t.equal(out.status, 302);
    const { body, req } = await received;
    t.equal(req.method, 'POST');
    t.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
    const logoutToken = new URLSearchParams(body).get('logout_token')!;
    t.equal(decodeProtectedHeader(logoutToken).typ, 'logout+jwt');
    const jwks = (await (await fetch(`${f.issuer}/oauth2/jwks`)).json()) as JSONWebKeySet;
    const { payload } = await jwtVerify(logoutToken, createLocalJWKSet(jwks), { issuer: f.issuer, audience: 'rp', typ: 'logout+jwt' });
    t.same(payload.events, { 'http://schemas.openid.net/event/backchannel-logout': {} });
    t.type(payload.sid, 'string');
    t.type(payload.sub, 'string');
    t.type(payload.jti, 'string');
    t.type(payload.iat, 'number');
    t.type(payload.exp, 'number');
    t.notOk('nonce' in payload, 'never a nonce');
    const idClaims = JSON.parse(Buffer.from((web.json!.id_token as string).split('.')[1]!, 'base64url').toString()) as { sid: string; sub: string };
    t.equal(payload.sid, idClaims.sid, 'the session the id tokens named');
    t.equal(payload.sub, idClaims.sub);
    const info = await fetch(`${f.issuer}/userinfo`, { headers: { authorization: `Bearer ${String(web.json!.access_token)}` } });
    t.equal(info.status, 401, "the session's tokens are revoked");
  });

  t.test("each client's logout_token carries the issuer of that client's tokens, whichever family the logout came through", async (t) => {
    const jwks = createLocalJWKSet((await (await fetch(`${f.issuer}/oauth2/jwks`)).json()) as JSONWebKeySet);
    const cases = [
      { login: '/oauth2/authorize', tokenPath: '/oauth2/token', iss: f.issuer, logout: '/auth/sso/logout' },
      { login: '/auth/oauth2/authorize', tokenPath: '/auth/oauth2/token', iss: `${f.issuer}/auth`, logout: '/logout?client_id=web' },
    ];
    for (const c of cases) {
      const signedIn = await browserAuthorize(
        f,
        authorizeUrl(f, { client_id: 'rp', redirect_uri: CB, response_type: 'code', scope: 'openid' }, c.login),
        { username: 'alice', password: TEST_PASSWORD },
      );
      const tokens = await token(
        f,
        { grant_type: 'authorization_code', client_id: 'rp', client_secret: 'rp-secret-0123456789abcdef', code: signedIn.location.searchParams.get('code')!, redirect_uri: CB },
        { path: c.tokenPath },
      );
      const idIss = (JSON.parse(Buffer.from(String(tokens.json!.id_token).split('.')[1]!, 'base64url').toString()) as { iss: string }).iss;
      t.equal(idIss, c.iss, `signed in through ${c.login}`);
      const received = receiver.next();
      await fetch(`${f.issuer}${c.logout}`, { redirect: 'manual', headers: { cookie: signedIn.jar.header() } });
      const logoutToken = new URLSearchParams((await received).body).get('logout_token')!;
      const { payload } = await jwtVerify(logoutToken, jwks, { audience: 'rp', typ: 'logout+jwt' });
      t.equal(payload.iss, c.iss, `logged out through ${c.logout}: the logout_token's iss is the id token's`);
    }
  });

  t.test('a code issued before a logout cannot be redeemed after it', async (t) => {
    const { location, jar } = await signIn('web');
    const out = await fetch(`${f.issuer}/logout?client_id=web`, { redirect: 'manual', headers: { cookie: jar.header() } });
    t.equal(out.status, 302);
    const late = await token(f, { grant_type: 'authorization_code', client_id: 'web', client_secret: WEB_SECRET, code: location.searchParams.get('code')!, redirect_uri: CB });
    t.equal(late.status, 400);
    t.equal(late.text, '{"error":"invalid_grant","error_description":"invalid code"}');
  });

  t.test('a re-login of the same user (prompt=login) leaves one session: logout revokes what both logins issued', async (t) => {
    const exchange = async (location: URL) =>
      token(f, { grant_type: 'authorization_code', client_id: 'web', client_secret: WEB_SECRET, code: location.searchParams.get('code')!, redirect_uri: CB });
    const first = await signIn('web');
    const oldCookie = first.jar.header();
    const before = await exchange(first.location);
    const again = await browserAuthorize(
      f,
      authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'login' }),
      { username: 'alice', password: TEST_PASSWORD },
      first.jar,
    );
    const after = await exchange(again.location);
    t.not(first.jar.header(), oldCookie, 'the login issued a new cookie (new secret: no fixation)');
    const stale = await fetch(authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'none' }), {
      redirect: 'manual',
      headers: { cookie: oldCookie },
    });
    t.equal(new URL(stale.headers.get('location')!).searchParams.get('error'), 'login_required', 'the old cookie no longer signs in');

    const out = await fetch(`${f.issuer}/logout?client_id=web`, { redirect: 'manual', headers: { cookie: first.jar.header() } });
    t.equal(out.status, 302);
    const refresh = (rt: unknown) => token(f, { grant_type: 'refresh_token', client_id: 'web', client_secret: WEB_SECRET, refresh_token: String(rt) });
    t.equal((await refresh(after.json!.refresh_token)).status, 400, "the second login's family is revoked");
    t.equal((await refresh(before.json!.refresh_token)).status, 400, "and so is the first login's");
    t.equal((await fetch(`${f.issuer}/userinfo`, { headers: { authorization: `Bearer ${String(before.json!.access_token)}` } })).status, 401);
  });

  t.test('EIAM /auth/sso/logout (§5.6)', async (t) => {
    const plain = await fetch(`${f.issuer}/auth/sso/logout`, { redirect: 'manual' });
    t.equal(plain.status, 200);
    t.equal(await plain.text(), '{"success":"ok","message":"Logout successfully"}');
    const back = await fetch(`${f.issuer}/auth/sso/logout?return_to=${encodeURIComponent('http://127.0.0.1:9/bye')}`, { redirect: 'manual' });
    t.equal(back.status, 302);
    t.equal(back.headers.get('location'), 'http://127.0.0.1:9/bye');
    const evil = await fetch(`${f.issuer}/auth/sso/logout?return_to=${encodeURIComponent('http://evil.example/')}`, { redirect: 'manual' });
    t.equal(evil.status, 200, 'an unregistered return_to is not followed');
    const bad = await fetch(`${f.issuer}/auth/sso/logout`, { headers: { authorization: 'Bearer forged' } });
    t.equal(bad.status, 401);
    t.equal(await bad.text(), '{"error":"invalid_request","error_description":"invalid_token"}');

    const { location, jar } = await signIn('web');
    const tokens = await token(f, { grant_type: 'authorization_code', client_id: 'web', client_secret: WEB_SECRET, code: location.searchParams.get('code')!, redirect_uri: CB });
    const at = String(tokens.json!.access_token);
    const out = await fetch(`${f.issuer}/auth/sso/logout`, { headers: { authorization: `Bearer ${at}` } });
    t.equal(out.status, 200);
    t.equal((await fetch(`${f.issuer}/userinfo`, { headers: { authorization: `Bearer ${at}` } })).status, 401, 'bearer revoked');
    const again = await fetch(authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'none' }), {
      redirect: 'manual',
      headers: { cookie: jar.header() },
    });
    t.equal(new URL(again.headers.get('location')!).searchParams.get('error'), 'login_required', "the bearer's SSO session ended");
  });
});
