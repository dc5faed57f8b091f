/**
 * Hostile input: malformed bodies, huge parameters, wrong content types, forged JWTs (alg none,
 * alg confusion, foreign keys, tampered payloads), duplicate parameters, garbage credentials.
 * Every answer is a 4xx with no stack trace, and the process keeps serving.
 */
import t, { type Test } from 'tap';
import { SignJWT, generateKeyPair, exportJWK, decodeProtectedHeader, decodeJwt, base64url } from 'jose';
import { createSecretKey } from 'node:crypto';
import { CB, TEST_PASSWORD, WEB_SECRET, startProvider, token } from './helpers.js';

t.test('hostile input', async (t) => {
  const f = await startProvider(t);
  const alive = async (t: Test) => t.equal((await fetch(`${f.issuer}/.well-known/openid-configuration`)).status, 200, 'still serving');
  const is4xx = async (t: Test, what: string, res: Response) => {
    const text = await res.text();
    t.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status}`);
    t.notMatch(text, /at .*\.(ts|js):\d+/, `${what}: no stack trace`);
    return text;
  };
  const post = (path: string, body: string | Buffer, type = 'application/x-www-form-urlencoded', headers: Record<string, string> = {}) =>
    fetch(`${f.issuer}${path}`, { method: 'POST', headers: { 'content-type': type, ...headers }, body });

  t.test('malformed and oversized bodies', async (t) => {
    await is4xx(t, 'bad percent-encoding', await post('/oauth2/token', 'grant_type=password&username=%ZZ%&password=%'));
    const big = await post('/oauth2/token', `grant_type=password&username=${'a'.repeat(70_000)}`);
    t.equal(big.status, 413);
    t.same(JSON.parse(await is4xx(t, 'oversized body', big)).error, 'invalid_request');
    await is4xx(t, 'broken JSON', await post('/oauth2/token', '{"grant_type":', 'application/json'));
    await is4xx(t, 'JSON array', await post('/oauth2/token', '[1,2]', 'application/json'));
    await is4xx(t, 'multipart', await post('/oauth2/token', '--x\r\n\r\n--x--', 'multipart/form-data; boundary=x'));
    await is4xx(t, 'nested form keys', await post('/oauth2/token', 'grant_type[a]=1&client_id=web'));
    await is4xx(t, 'binary', await post('/oauth2/token', Buffer.from([0, 255, 254, 1, 2])));
    await is4xx(t, 'NUL in values', await post('/oauth2/token', `grant_type=password&client_id=web&client_secret=${WEB_SECRET}&username=al%00ice&password=x`));
    await is4xx(t, 'login page: JSON body', await post('/login', '{"p_state":"x"}', 'application/json'));
    await alive(t);
  });

  t.test('huge parameters', async (t) => {
    const longState = await fetch(`${f.issuer}/oauth2/authorize?client_id=web&redirect_uri=${encodeURIComponent(CB)}&response_type=code&scope=openid&state=${'s'.repeat(5000)}`, { redirect: 'manual' });
    t.equal(longState.status, 302);
    t.equal(new URL(longState.headers.get('location')!).searchParams.get('error'), 'invalid_request', 'an oversized state is refused');
    t.equal(new URL(longState.headers.get('location')!).searchParams.get('state'), null, 'and not echoed');
    const longUrl = await fetch(`${f.issuer}/oauth2/authorize?client_id=${'c'.repeat(12_000)}`, { redirect: 'manual' });
    await is4xx(t, '12 KB client_id', longUrl);
    const longPw = await token(f, { grant_type: 'password', client_id: 'web', client_secret: WEB_SECRET, username: 'alice', password: 'p'.repeat(50_000) });
    t.equal(longPw.status, 400, '50 KB password: refused without hashing it');
    const longCode = await token(f, { grant_type: 'authorization_code', client_id: 'web', client_secret: WEB_SECRET, code: 'c'.repeat(40_000), redirect_uri: CB });
    t.equal(longCode.json!.error, 'invalid_grant');
    await alive(t);
  });

  t.test('duplicate parameters everywhere', async (t) => {
    const authz = await fetch(`${f.issuer}/oauth2/authorize?client_id=web&client_id=spa&redirect_uri=${encodeURIComponent(CB)}&response_type=code&scope=openid`, { redirect: 'manual' });
    t.equal(authz.status, 400);
    t.equal(authz.headers.get('location'), null);
    const revoke = await post('/oauth2/revoke', `client_id=web&client_secret=${WEB_SECRET}&token=a&token=b`);
    t.same(JSON.parse(await is4xx(t, 'duplicate token', revoke)), { error: 'invalid_request', error_description: 'duplicate token parameter' });
    const eiam = await fetch(`${f.issuer}/auth/oauth2/token?grant_type=password&grant_type=refresh_token`, { method: 'POST' });
    t.equal(await eiam.text(), '{"error":"invalid_request","error_description":"duplicate grant_type parameter"}');
    await alive(t);
  });

  t.test('garbage client credentials and bearer tokens', async (t) => {
    for (const auth of ['Basic', 'Basic !!!!', `Basic ${Buffer.from('no-colon').toString('base64')}`, `Basic ${Buffer.from('%E0%A4%A:x').toString('base64')}`]) {
      const r = await post('/oauth2/token', 'grant_type=client_credentials', undefined, { authorization: auth });
      t.equal(r.status, 401, auth);
    }
    for (const auth of ['Bearer', 'Bearer  ', 'Token abc', 'Bearer a.b', `Bearer ${'x'.repeat(9000)}`]) {
      const r = await fetch(`${f.issuer}/userinfo`, { headers: { authorization: auth } });
      await is4xx(t, auth.slice(0, 20), r);
    }
    await alive(t);
  });

  t.test('forged JWTs are refused at userinfo and introspection', async (t) => {
    const real = await token(f, { grant_type: 'password', client_id: 'web', client_secret: WEB_SECRET, username: 'alice', password: TEST_PASSWORD });
    const at = String(real.json!.access_token);
    const claims = decodeJwt(at);
    const { kid } = decodeProtectedHeader(at);
    const [h, p, s] = at.split('.') as [string, string, string];

    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT', kid }))}.${p}.`;
    const tampered = `${h}.${base64url.encode(JSON.stringify({ ...claims, sub: 'someone-else' }))}.${s}`;
    const foreignKey = await generateKeyPair('RS256');
    const foreign = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(foreignKey.privateKey);
    // alg confusion: HS256 keyed with the provider's public key material
    const jwks = (await (await fetch(`${f.issuer}/oauth2/jwks`)).json()) as { keys: Array<{ n: string }> };
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid, typ: 'JWT' }).sign(createSecretKey(Buffer.from(jwks.keys[0]!.n)));
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(privateKey);
    const embedded = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', jwk: { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! } }).sign(privateKey);

    for (const [name, forged] of [['alg none', none], ['tampered payload', tampered], ['foreign key, our kid', foreign], ['HS256 confusion', hs], ['embedded jwk', embedded]] as const) {
      const r = await fetch(`${f.issuer}/userinfo`, { headers: { authorization: `Bearer ${forged}` } });
      t.equal(r.status, 401, name);
      const intro = await post('/oauth2/introspect', `token=${encodeURIComponent(forged)}&client_id=web&client_secret=${WEB_SECRET}`);
      t.same(await intro.json(), { active: false }, `${name}: inactive`);
    }
    t.equal((await fetch(`${f.issuer}/userinfo`, { headers: { authorization: `Bearer ${at}` } })).status, 200, 'the real token still works');
    await alive(t);
  });

  t.test('unknown paths and methods under the mount', async (t) => {
    await is4xx(t, 'PUT token', await fetch(`${f.issuer}/oauth2/token`, { method: 'PUT' }));
    await is4xx(t, 'unknown path', await fetch(`${f.issuer}/oauth2/nothing`));
    await is4xx(t, 'GET token', await fetch(`${f.issuer}/oauth2/token`));
    await alive(t);
  });
});
