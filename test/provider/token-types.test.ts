/**
 * Token confusion: access tokens (typ at+jwt, RFC 9068 §2.1), id tokens (typ JWT), logout tokens
 * (typ logout+jwt) and the /sso identity token are all signed by the provider's one key, so every
 * place that verifies one kind must refuse the others. Here: id_token_hint at logout accepts only
 * id tokens; access tokens are refused where an id token is expected and vice versa.
 */
import t from 'tap';
import { decodeProtectedHeader } from 'jose';
import { CB, TEST_PASSWORD, WEB_SECRET, authorizeUrl, browserAuthorize, startProvider, token } from './helpers.js';

t.test('token kinds are not interchangeable', async (t) => {
  const f = await startProvider(t);
  const engine = f.app.menshenProvider.engine;
  const signIn = async () => {
    const { location, jar } = await browserAuthorize(
      f,
      authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid' }),
      { username: 'alice', password: TEST_PASSWORD },
    );
    const tokens = await token(f, { grant_type: 'authorization_code', client_id: 'web', client_secret: WEB_SECRET, code: location.searchParams.get('code')!, redirect_uri: CB });
    return { jar, at: String(tokens.json!.access_token), id: String(tokens.json!.id_token) };
  };
  const logoutWithHint = (hint: string, cookie: string) =>
    fetch(`${f.issuer}/logout?${new URLSearchParams({ id_token_hint: hint })}`, { redirect: 'manual', headers: { cookie } });
  const stillSignedIn = async (cookie: string) => {
    const r = await fetch(authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'none' }), {
      redirect: 'manual',
      headers: { cookie },
    });
    return new URL(r.headers.get('location')!).searchParams.has('code');
  };

  t.test('access tokens say at+jwt, id tokens JWT', async (t) => {
    const { at, id } = await signIn();
    t.equal(decodeProtectedHeader(at).typ, 'at+jwt');
    t.equal(decodeProtectedHeader(id).typ, 'JWT');
  });

  t.test('id_token_hint takes an id token only', async (t) => {
    const { jar, at, id } = await signIn();
    const claims = JSON.parse(Buffer.from(id.split('.')[1]!, 'base64url').toString()) as { sub: string; sid: string };
    const logoutToken = await engine.idTokens.logoutToken({ issuer: f.issuer, clientId: 'web', sub: claims.sub, sid: claims.sid });
    const now = engine.nowSeconds();
    // The shape of the /sso identity token (dialects/sso/identity.ts): typ JWT, but no azp.
    const ssoIdentity = await engine.keys.sign({ iss: f.issuer, sub: claims.sub, aud: 'web', iat: now, exp: now + 300, jti: 'x', access_key: 'AK' });
    for (const [name, hint] of [['an access token', at], ['a logout token', logoutToken], ['an /sso identity token', ssoIdentity]] as const) {
      const r = await logoutWithHint(hint, jar.header());
      t.equal(r.status, 400, `${name} as id_token_hint`);
      t.equal(await r.text(), '{"error":"invalid_request","error_description":"invalid id_token_hint"}');
      t.ok(await stillSignedIn(jar.header()), `${name}: nobody was logged out`);
    }
    const real = await logoutWithHint(id, jar.header());
    t.equal(real.status, 302, 'the id token itself is fine');
    t.notOk(await stillSignedIn(jar.header()), 'and logged out');
  });

  t.test('an id token is no access token', async (t) => {
    const { id } = await signIn();
    t.equal((await fetch(`${f.issuer}/userinfo`, { headers: { authorization: `Bearer ${id}` } })).status, 401);
    t.equal((await fetch(`${f.issuer}/auth/sso/logout`, { headers: { authorization: `Bearer ${id}` } })).status, 401, 'nor at EIAM logout');
  });
});
