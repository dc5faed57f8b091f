/**
 * Codes and refresh families over raw HTTP: one-time codes (a replay revokes what the first
 * exchange issued), PKCE (S256 on CIAM, SM3 or S256 on EIAM, checked again at the token endpoint that
 * redeems the code), redirect_uri rules, rotation with
 * reuse detection, lifetimes on the injected clock.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { CB, CB2, LEGACY_SECRET, TEST_PASSWORD, WEB_SECRET, authorizeUrl, browserAuthorize, startProvider, token, type ProviderFixture } from './helpers.js';

const web = { client_id: 'web', client_secret: WEB_SECRET };
const VERIFIER = 'a'.repeat(20) + 'B'.repeat(20) + '-._~0123';
const s256 = (v: string) => createHash('sha256').update(v).digest('base64url');
const sm3 = (v: string, enc: 'base64url' | 'hex') => createHash('sm3').update(v).digest(enc);

async function codeFor(f: ProviderFixture, params: Record<string, string>, path?: string): Promise<string> {
  const { location } = await browserAuthorize(f, authorizeUrl(f, { response_type: 'code', scope: 'openid profile', ...params }, path), { username: 'alice', password: TEST_PASSWORD });
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code: ${location.href}`);
  return code;
}

const userinfo = (f: ProviderFixture, at: unknown) => fetch(`${f.issuer}/userinfo`, { headers: { authorization: `Bearer ${String(at)}` } }).then((r) => r.status);

t.test('authorization codes', async (t) => {
  const f = await startProvider(t);

  t.test('a replayed code is refused and revokes what it issued', async (t) => {
    const code = await codeFor(f, { client_id: 'web', redirect_uri: CB });
    const first = await token(f, { grant_type: 'authorization_code', ...web, code, redirect_uri: CB });
    t.equal(first.status, 200);
    t.equal(await userinfo(f, first.json!.access_token), 200);
    const replay = await token(f, { grant_type: 'authorization_code', ...web, code, redirect_uri: CB });
    t.equal(replay.status, 400);
    t.same(replay.json, { error: 'invalid_grant', error_description: 'invalid code' });
    t.equal(await userinfo(f, first.json!.access_token), 401, 'access token revoked');
    const refresh = await token(f, { grant_type: 'refresh_token', ...web, refresh_token: first.json!.refresh_token as string });
    t.equal(refresh.json!.error, 'invalid_grant', 'refresh family revoked');
  });

  t.test('a user disabled or locked between login and exchange gets no tokens', async (t) => {
    const engine = f.app.menshenProvider.engine;
    const alice = (await engine.directory.findByUsername('alice'))!;
    t.teardown(() => engine.directory.update(alice.id, { status: 'active' }));
    for (const status of ['disabled', 'locked'] as const) {
      const code = await codeFor(f, { client_id: 'web', redirect_uri: CB });
      await engine.directory.update(alice.id, { status });
      const r = await token(f, { grant_type: 'authorization_code', ...web, code, redirect_uri: CB });
      t.equal(r.status, 400, status);
      t.equal(r.json!.error, 'invalid_grant');
      await engine.directory.update(alice.id, { status: 'active' });
    }
  });

  t.test('expiry follows the clock', async (t) => {
    const code = await codeFor(f, { client_id: 'web', redirect_uri: CB });
    f.clock.advance(61_000);
    const late = await token(f, { grant_type: 'authorization_code', ...web, code, redirect_uri: CB });
    t.same(late.json, { error: 'invalid_grant', error_description: 'invalid code' });
  });

  t.test('redirect_uri must match; code bound to its client', async (t) => {
    const code = await codeFor(f, { client_id: 'web', redirect_uri: CB });
    const other = await token(f, { grant_type: 'authorization_code', ...web, code, redirect_uri: CB2 });
    t.same(other.json, { error: 'invalid_grant', error_description: 'invalid redirect_uri' });
    const code2 = await codeFor(f, { client_id: 'web', redirect_uri: CB });
    const none = await token(f, { grant_type: 'authorization_code', ...web, code: code2 });
    t.same(none.json, { error: 'invalid_request', error_description: 'missing redirect_uri parameter' }, 'CIAM: always required');
    const code3 = await codeFor(f, { client_id: 'web', redirect_uri: CB });
    const stolen = await token(f, { grant_type: 'authorization_code', client_id: 'legacy', client_secret: LEGACY_SECRET, code: code3, redirect_uri: CB });
    t.equal(stolen.json!.error, 'invalid_grant');
  });

  t.test('PKCE S256 on CIAM', async (t) => {
    const challenge = s256(VERIFIER);
    const code = await codeFor(f, { client_id: 'spa', redirect_uri: CB, code_challenge: challenge, code_challenge_method: 'S256' });
    const ok = await token(f, { grant_type: 'authorization_code', client_id: 'spa', code, redirect_uri: CB, code_verifier: VERIFIER });
    t.equal(ok.status, 200, 'public client with PKCE');
    const code2 = await codeFor(f, { client_id: 'spa', redirect_uri: CB, code_challenge: challenge, code_challenge_method: 'S256' });
    const wrong = await token(f, { grant_type: 'authorization_code', client_id: 'spa', code: code2, redirect_uri: CB, code_verifier: VERIFIER.replace('a', 'c') });
    t.same(wrong.json, { error: 'invalid_grant', error_description: 'invalid code_verifier' });
    const code3 = await codeFor(f, { client_id: 'spa', redirect_uri: CB, code_challenge: challenge, code_challenge_method: 'S256' });
    const missing = await token(f, { grant_type: 'authorization_code', client_id: 'spa', code: code3, redirect_uri: CB });
    t.equal(missing.json!.error, 'invalid_grant', 'verifier required when a challenge was sent');
    const code4 = await codeFor(f, { client_id: 'web', redirect_uri: CB });
    const downgrade = await token(f, { grant_type: 'authorization_code', ...web, code: code4, redirect_uri: CB, code_verifier: VERIFIER });
    t.equal(downgrade.json!.error, 'invalid_grant', 'a verifier without a challenge is refused');
  });

  t.test('EIAM: SM3 (base64url or hex) or S256, secretless with PKCE, optional redirect_uri', async (t) => {
    for (const challenge of [sm3(VERIFIER, 'base64url'), sm3(VERIFIER, 'hex')]) {
      const code = await codeFor(f, { client_id: 'legacy', code_challenge: challenge, code_challenge_method: 'SM3' }, '/auth/oauth2/authorize');
      const r = await token(f, { grant_type: 'authorization_code', client_id: 'legacy', code, code_verifier: VERIFIER }, { path: '/auth/oauth2/token' });
      t.equal(r.status, 200, `SM3 ${challenge.length === 64 ? 'hex' : 'base64url'}, no secret (T2 a)`);
      t.match(r.json!.access_token, /^[0-9a-f]{32}$/);
    }
    const s = await codeFor(f, { client_id: 'legacy', code_challenge: s256(VERIFIER), code_challenge_method: 'S256' }, '/auth/oauth2/authorize');
    t.equal((await token(f, { grant_type: 'authorization_code', client_id: 'legacy', client_secret: LEGACY_SECRET, code: s, code_verifier: VERIFIER }, { path: '/auth/oauth2/token' })).status, 200);
    const bad = await codeFor(f, { client_id: 'legacy', code_challenge: sm3(VERIFIER, 'hex'), code_challenge_method: 'SM3' }, '/auth/oauth2/authorize');
    const badR = await token(f, { grant_type: 'authorization_code', client_id: 'legacy', code: bad, code_verifier: 'x'.repeat(43) }, { path: '/auth/oauth2/token' });
    t.equal(badR.text, '{"error":"invalid_request","error_description":"invalid code challenge"}');
    const noPkce = await codeFor(f, { client_id: 'legacy' }, '/auth/oauth2/authorize');
    const noSecret = await token(f, { grant_type: 'authorization_code', client_id: 'legacy', code: noPkce }, { path: '/auth/oauth2/token' });
    t.equal(noSecret.text, '{"error":"invalid_request","error_description":"invalid client"}', 'no secret and no PKCE');
    const garbage = await token(f, { grant_type: 'authorization_code', client_id: 'legacy', client_secret: LEGACY_SECRET, code: 'nope' }, { path: '/auth/oauth2/token' });
    t.equal(garbage.text, '{"error":"invalid_request","error_description":"invalid code"}');
    const sent = await codeFor(f, { client_id: 'legacy', redirect_uri: CB }, '/auth/oauth2/authorize');
    const mismatch = await token(f, { grant_type: 'authorization_code', client_id: 'legacy', client_secret: LEGACY_SECRET, code: sent, redirect_uri: CB2 }, { path: '/auth/oauth2/token' });
    t.equal(mismatch.text, '{"error":"invalid_request","error_description":"invalid redirect_uri"}');
    const ciamSm3 = await fetch(authorizeUrl(f, { client_id: 'spa', redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: sm3(VERIFIER, 'base64url'), code_challenge_method: 'SM3' }), { redirect: 'manual' });
    t.equal(new URL(ciamSm3.headers.get('location')!).searchParams.get('error'), 'invalid_request', 'CIAM accepts S256 only');
  });

  t.test("a code's PKCE method must be one the redeeming token endpoint accepts (§5.2: CIAM S256 only)", async (t) => {
    const legacy = { client_id: 'legacy', client_secret: LEGACY_SECRET };
    const sm3Code = await codeFor(f, { client_id: 'legacy', redirect_uri: CB, code_challenge: sm3(VERIFIER, 'base64url'), code_challenge_method: 'SM3' }, '/auth/oauth2/authorize');
    const atCiam = await token(f, { grant_type: 'authorization_code', ...legacy, code: sm3Code, redirect_uri: CB, code_verifier: VERIFIER });
    t.equal(atCiam.status, 400, 'an EIAM SM3 code with the right verifier is refused at /oauth2/token');
    t.same(atCiam.json, { error: 'invalid_grant', error_description: 'invalid code_verifier' });
    const s256Code = await codeFor(f, { client_id: 'legacy', redirect_uri: CB, code_challenge: s256(VERIFIER), code_challenge_method: 'S256' }, '/auth/oauth2/authorize');
    const s256AtCiam = await token(f, { grant_type: 'authorization_code', ...legacy, code: s256Code, redirect_uri: CB, code_verifier: VERIFIER });
    t.equal(s256AtCiam.status, 200, 'an EIAM S256 code still redeems at CIAM (codes are shared between the families)');
  });
});

t.test('refresh families', async (t) => {
  const f = await startProvider(t);
  const start = async () => (await token(f, { grant_type: 'password', ...web, username: 'alice', password: TEST_PASSWORD, scope: 'openid profile' })).json!;
  const refresh = (rt: unknown, extra: Record<string, string> = {}) => token(f, { grant_type: 'refresh_token', ...web, refresh_token: String(rt), ...extra });

  t.test('rotation on every use; reuse revokes the whole family', async (t) => {
    const first = await start();
    const second = (await refresh(first.refresh_token)).json!;
    t.not(second.refresh_token, first.refresh_token);
    t.equal(await userinfo(f, first.access_token), 401, 'the rotated-out access token is dead (EIAM 1442/62557)');
    t.equal(await userinfo(f, second.access_token), 200);
    const reuse = await refresh(first.refresh_token);
    t.same(reuse.json, { error: 'invalid_grant', error_description: 'invalid refresh_token' });
    t.equal(await userinfo(f, second.access_token), 401, 'the current access token died with the family');
    t.equal((await refresh(second.refresh_token)).json!.error, 'invalid_grant', 'so did the current refresh token');
  });

  t.test('narrower scope on refresh; a wider one is refused without losing the token', async (t) => {
    const first = await start();
    const wider = await refresh(first.refresh_token, { scope: 'openid profile email' });
    t.equal(wider.json!.error, 'invalid_scope');
    const narrower = await refresh(first.refresh_token, { scope: 'openid' });
    t.equal(narrower.status, 200, 'the refused request did not burn the token');
    t.equal(narrower.json!.scope, 'openid');
  });

  t.test('a refresh token works only for its client', async (t) => {
    const first = await start();
    const other = await token(f, { grant_type: 'refresh_token', client_id: 'legacy', client_secret: LEGACY_SECRET, refresh_token: String(first.refresh_token) });
    t.equal(other.json!.error, 'invalid_grant');
    t.equal((await refresh(first.refresh_token)).json!.error, 'invalid_grant', 'and the family is gone');
  });

  t.test('a disabled user cannot refresh', async (t) => {
    const first = await start();
    const engine = f.app.menshenProvider.engine;
    const alice = await engine.directory.findByUsername('alice');
    await engine.directory.update(alice!.id, { status: 'disabled' });
    t.teardown(() => engine.directory.update(alice!.id, { status: 'active' }));
    t.equal((await refresh(first.refresh_token)).json!.error, 'invalid_grant');
    t.equal(await userinfo(f, first.access_token), 401, 'its access tokens stop working too');
  });

  t.test('lifetimes on the clock: access token, then the family', async (t) => {
    const first = await start();
    f.clock.advance(301_000);
    t.equal(await userinfo(f, first.access_token), 401, 'access token expired');
    const second = await refresh(first.refresh_token);
    t.equal(second.status, 200, 'refresh still fine');
    f.clock.advance(2592000_000);
    t.equal((await refresh(second.json!.refresh_token)).json!.error, 'invalid_grant', 'family past refreshTtl');
  });
});
