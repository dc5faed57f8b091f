/**
 * openid-client (v6) as the relying party against the real provider: discovery, code + PKCE,
 * id token validation, userinfo, refresh with rotation, revocation, silent SSO for a second
 * client, prompt=none, and RP-initiated logout with buildEndSessionUrl. Memory store and Redis.
 */
import t, { type Test } from 'tap';
import * as oidc from 'openid-client';
import { CB, TEST_PASSWORD, WEB_SECRET, browserAuthorize, startProvider, token } from './helpers.js';

const insecure = { execute: [oidc.allowInsecureRequests] };

/** Asserts the promise fails with an OAuth error body carrying this `error` code. */
/** Asserts a resource request fails with 401 (WWW-Authenticate invalid_token). */
async function unauthorized(t: Test, p: Promise<unknown>, msg: string) {
  const err = await p.then(
    () => null,
    (e: unknown) => e as { status?: number },
  );
  t.equal(err?.status, 401, msg);
}

async function failsWith(t: Test, p: Promise<unknown>, error: string, msg: string) {
  const err = await p.then(
    () => null,
    (e: unknown) => e as { error?: string },
  );
  t.equal(err?.error, error, msg);
}

for (const storeKind of ['memory', 'redis'] as const) {
  t.test(`relying party flow (${storeKind} store)`, async (t) => {
    const f = await startProvider(t, { store: storeKind });
    const web = await oidc.discovery(new URL(f.issuer), 'web', WEB_SECRET, undefined, insecure);
    t.equal(web.serverMetadata().issuer, f.issuer);
    t.same(web.serverMetadata().code_challenge_methods_supported, ['S256']);

    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(web, {
      redirect_uri: CB,
      scope: 'openid profile email phone',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const { location, jar } = await browserAuthorize(f, url.href, { username: 'alice', password: TEST_PASSWORD });
    t.equal(`${location.origin}${location.pathname}`, CB, 'back at the client');
    t.equal(location.searchParams.get('state'), state);

    const tokens = await oidc.authorizationCodeGrant(web, location, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    const claims = tokens.claims()!;
    t.equal(claims.iss, f.issuer);
    t.equal(claims.aud, 'web');
    t.equal(claims.azp, 'web');
    t.equal(claims.nonce, nonce);
    t.equal(claims.preferred_username, 'alice');
    t.equal(claims.email, 'alice@example.com');
    t.equal(claims.phone_number, '+8615088888888');
    t.same(claims.groups, ['staff', 'admins']);
    t.type(claims.sid, 'string');
    t.type(claims.auth_time, 'number');
    t.ok(tokens.refresh_token, 'refresh token issued');
    t.equal(tokens.token_type, 'bearer');

    const info = await oidc.fetchUserInfo(web, tokens.access_token, claims.sub);
    t.equal(info.sub, claims.sub);
    t.equal(info.name, 'Alice');
    t.equal(info.nickname, 'ali');

    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    t.not(refreshed.refresh_token, tokens.refresh_token, 'rotated');
    t.equal(refreshed.claims()!.sub, claims.sub);
    t.equal(refreshed.claims()!.sid, claims.sid, 'the refreshed id token keeps the session');
    await unauthorized(t, oidc.fetchUserInfo(web, tokens.access_token, claims.sub), 'the access token before rotation is dead');
    t.equal((await oidc.fetchUserInfo(web, refreshed.access_token, claims.sub)).sub, claims.sub);
    await failsWith(t, oidc.refreshTokenGrant(web, tokens.refresh_token!), 'invalid_grant', 'rotated-out token refused');

    // The second client signs in silently under the provider SSO session.
    const spa = await oidc.discovery(new URL(f.issuer), 'spa', undefined, oidc.None(), insecure);
    const v2 = oidc.randomPKCECodeVerifier();
    const url2 = oidc.buildAuthorizationUrl(spa, {
      redirect_uri: CB,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(v2),
      code_challenge_method: 'S256',
      prompt: 'none',
    });
    const silent = await browserAuthorize(f, url2.href, null, jar);
    t.ok(silent.location.searchParams.get('code'), 'code without a login page');
    const spaTokens = await oidc.authorizationCodeGrant(spa, silent.location, { pkceCodeVerifier: v2 });
    t.equal(spaTokens.claims()!.sub, claims.sub);
    t.equal(spaTokens.claims()!.sid, claims.sid, 'same provider session');

    // RP-initiated logout with the standard names ends the session and its tokens.
    const end = oidc.buildEndSessionUrl(web, { id_token_hint: refreshed.id_token!, post_logout_redirect_uri: 'http://127.0.0.1:9/bye', state: 'st' });
    const out = await fetch(end, { redirect: 'manual', headers: { cookie: jar.header() } });
    t.equal(out.status, 302);
    t.equal(out.headers.get('location'), 'http://127.0.0.1:9/bye?state=st');
    jar.update(out);
    t.equal(jar.cookies.has('menshen_op'), false, 'SSO cookie cleared');
    await unauthorized(t, oidc.fetchUserInfo(web, refreshed.access_token, claims.sub), 'access token revoked by logout');
    await unauthorized(t, oidc.fetchUserInfo(spa, spaTokens.access_token, claims.sub), "the other client's token too");
    await failsWith(t, oidc.refreshTokenGrant(web, refreshed.refresh_token!), 'invalid_grant', 'refresh family revoked');
    const again = await browserAuthorize(f, url2.href, null, jar);
    t.equal(again.location.searchParams.get('error'), 'login_required', 'prompt=none now needs a login');
  });
}

t.test('client_secret_basic, revocation and EIAM discovery through openid-client', async (t) => {
  const f = await startProvider(t);
  const web = await oidc.discovery(new URL(f.issuer), 'web', {}, oidc.ClientSecretBasic(WEB_SECRET), insecure);
  const pw = await token(f, { grant_type: 'password', client_id: 'web', client_secret: WEB_SECRET, username: 'alice', password: TEST_PASSWORD });
  const rt = pw.json!.refresh_token as string;
  const refreshed = await oidc.refreshTokenGrant(web, rt);
  await oidc.tokenRevocation(web, refreshed.refresh_token!);
  await failsWith(t, oidc.refreshTokenGrant(web, refreshed.refresh_token!), 'invalid_grant', 'revoked refresh token refused');

  const eiam = await oidc.discovery(new URL(`${f.issuer}/auth`), 'web', WEB_SECRET, undefined, insecure);
  const m = eiam.serverMetadata();
  t.equal(m.issuer, `${f.issuer}/auth`);
  t.equal(m.token_endpoint, `${f.issuer}/auth/oauth2/token`);
  t.equal(m.userinfo_endpoint, `${f.issuer}/auth/oauth2/userinfo`);
  t.equal(m.end_session_endpoint, `${f.issuer}/auth/sso/logout`);
  t.same(m.code_challenge_methods_supported, ['SM3', 'S256']);
  t.ok((m.grant_types_supported as string[]).includes('password'));
});
