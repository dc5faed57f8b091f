/**
 * EIAM's implicit flow (`response_type=token`, protocols.md T1, 1442/62417) over raw HTTP on the
 * suite's Redis: the access token in the fragment (never the query) after the login page and
 * silently under the SSO session, errors in the fragment once the redirect URI is known, the
 * documented 400 JSON before that, only on EIAM paths and only for clients listing `implicit`,
 * logout and expiry of the token, discovery, and a config that `menshen check-config` accepts.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { spawnMenshen } from '../ops/helpers.js';
import { CB, Jar, TEST_PASSWORD, authorizeUrl, browserAuthorize, providerYaml, startProvider } from './helpers.js';

const EIAM_AUTHORIZE = '/auth/oauth2/authorize';
const JSON_TYPE = 'application/json;charset=UTF-8';
const HYBRID_SECRET = 'hybrid-secret-0123456789abcdef';

const extraClients = `
    - clientId: spa-implicit
      redirectUris: ["${CB}"]
      grants: [implicit]
    - clientId: hybrid
      clientSecret: ${HYBRID_SECRET}
      redirectUris: ["${CB}"]
      grants: [authorization_code, implicit]
      accessTokenFormat: opaque
`;

const alice = { username: 'alice', password: TEST_PASSWORD };

/** The fragment's parameters, after checking the query carries nothing. */
function fragmentOf(t: Test, location: URL): Record<string, string> {
  t.equal(location.search, '', 'nothing in the query');
  t.equal(`${location.origin}${location.pathname}`, CB);
  return Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
}

t.test('EIAM implicit flow', async (t) => {
  const f = await startProvider(t, { store: 'redis', extraClients });
  const eiamUrl = (params: Record<string, string>) => authorizeUrl(f, params, EIAM_AUTHORIZE);
  const implicitUrl = (params: Record<string, string> = {}) => eiamUrl({ client_id: 'spa-implicit', response_type: 'token', redirect_uri: CB, ...params });
  const get = (url: string, jar?: Jar) => fetch(url, { redirect: 'manual', headers: jar ? { cookie: jar.header() } : {} });
  const userinfo = (token: string) => fetch(`${f.issuer}/auth/oauth2/userinfo`, { headers: { authorization: `Bearer ${token}` } });

  t.test('login page, then the access token in the fragment; silent the second time', async (t) => {
    const { location, jar } = await browserAuthorize(f, implicitUrl({ state: 's1' }), alice);
    const got = fragmentOf(t, location);
    t.same(Object.keys(got), ['access_token', 'token_type', 'expires_in', 'scope', 'state'], 'no code, no refresh_token, no id_token');
    t.equal(got.token_type, 'Bearer');
    t.equal(got.expires_in, '300');
    t.equal(got.scope, 'openid', 'no scope asked: openid');
    t.equal(got.state, 's1');
    const claims = decodeJwt(got.access_token!);
    t.equal(claims.aud, 'spa-implicit');
    t.equal(claims.iss, `${f.issuer}/auth`);
    t.same(claims.scope, ['openid']);
    const info = await userinfo(got.access_token!);
    t.equal(info.status, 200);
    t.equal(((await info.json()) as { username: string }).username, 'alice');

    const again = await get(implicitUrl({ state: 's2', scope: 'openid profile' }), jar);
    t.equal(again.status, 302);
    t.equal(again.headers.get('cache-control'), 'no-store', 'a redirect carrying a token is not cached');
    const silent = fragmentOf(t, new URL(again.headers.get('location')!));
    t.equal(silent.state, 's2');
    t.equal(silent.scope, 'openid profile');
    t.not(silent.access_token, got.access_token);
    t.equal((await userinfo(silent.access_token!)).status, 200);
  });

  t.test('a confidential client listing both flows: code in the query, opaque token in the fragment', async (t) => {
    const { location, jar } = await browserAuthorize(f, eiamUrl({ client_id: 'hybrid', response_type: 'code', scope: 'openid', state: 'c' }), alice);
    t.ok(location.searchParams.get('code'), 'the code flow is unchanged');
    t.equal(location.hash, '');
    const r = await get(eiamUrl({ client_id: 'hybrid', response_type: 'token', state: 't' }), jar);
    const got = fragmentOf(t, new URL(r.headers.get('location')!));
    t.match(got.access_token, /^[0-9a-f]{32}$/, 'the client\'s token format (redirect_uri omitted: the only one registered)');
    t.equal(got.state, 't');
    t.equal((await userinfo(got.access_token!)).status, 200);
  });

  t.test('errors after the redirect URI is known go back in the fragment, with state', async (t) => {
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ prompt: 'none' }, 'login_required', 'login required'],
      [{ response_mode: 'query' }, 'invalid_request', 'response_type=token answers in the fragment only'],
      [{ code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }, 'invalid_request', 'code_challenge is not used with response_type=token'],
      [{ scope: 'get_user_info' }, 'invalid_scope', 'no requested scope is allowed'],
    ];
    for (const [params, error, description] of cases) {
      const r = await get(implicitUrl({ state: 'xyz', ...params }));
      t.equal(r.status, 302, error);
      t.equal(r.headers.get('cache-control'), 'no-store');
      const got = fragmentOf(t, new URL(r.headers.get('location')!));
      t.same(got, { error, error_description: description, state: 'xyz' }, JSON.stringify(params));
    }
  });

  t.test('before the redirect URI is known: EIAM\'s 400 JSON (1442/62417), never a redirect', async (t) => {
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ response_type: 'token', redirect_uri: CB }, 'invalid_request', 'missing client_id parameter'],
      [{ client_id: 'spa-implicit', redirect_uri: CB }, 'invalid_request', 'missing response_type parameter'],
      [{ client_id: 'spa-implicit', response_type: 'token id_token', redirect_uri: CB }, 'invalid_request', 'invalid response_type'],
      [{ client_id: 'spa-implicit', response_type: 'id_token', redirect_uri: CB }, 'invalid_request', 'invalid response_type'],
      [{ client_id: 'spa-implicit', response_type: 'token', redirect_uri: 'http://evil.example/cb' }, 'invalid_request', 'invalid redirect_uri'],
      // Clients without the implicit grant keep their answer to response_type=token.
      [{ client_id: 'legacy', response_type: 'token', redirect_uri: CB }, 'invalid_request', 'invalid response_type'],
      [{ client_id: 'web', response_type: 'token', redirect_uri: CB }, 'invalid_request', 'invalid response_type'],
      // An implicit-only client may not ask for a code.
      [{ client_id: 'spa-implicit', response_type: 'code', redirect_uri: CB, scope: 'openid' }, 'unauthorized_client', 'client may not use the authorization code flow'],
    ];
    for (const [params, error, description] of cases) {
      const r = await get(eiamUrl({ state: 'xyz', ...params }));
      t.equal(r.status, 400, description);
      t.equal(r.headers.get('location'), null);
      t.equal(r.headers.get('content-type'), JSON_TYPE);
      t.equal(await r.text(), JSON.stringify({ error, error_description: description }));
    }
  });

  t.test('CIAM paths never serve it', async (t) => {
    const r = await get(authorizeUrl(f, { client_id: 'spa-implicit', response_type: 'token', redirect_uri: CB, scope: 'openid' }));
    t.equal(r.status, 400);
    t.equal(r.headers.get('location'), null, 'no redirect, no token');
    t.match(r.headers.get('content-type'), /^text\/html/);
  });

  t.test('the token dies with the SSO session and with time', async (t) => {
    const { location, jar } = await browserAuthorize(f, implicitUrl(), alice);
    const first = fragmentOf(t, location).access_token!;
    t.equal((await userinfo(first)).status, 200);
    const logout = await fetch(`${f.issuer}/auth/sso/logout`, { headers: { cookie: jar.header() }, redirect: 'manual' });
    t.equal(logout.status, 200);
    t.equal((await userinfo(first)).status, 401, 'logout revoked it');

    const next = fragmentOf(t, (await browserAuthorize(f, implicitUrl(), alice)).location).access_token!;
    t.equal((await userinfo(next)).status, 200);
    f.clock.advance(301_000);
    t.equal((await userinfo(next)).status, 401, 'expired after accessTtl');
  });

  t.test('discovery: EIAM advertises token and the fragment, CIAM does not', async (t) => {
    const eiam = (await (await fetch(`${f.issuer}/auth/.well-known/openid-configuration`)).json()) as Record<string, string[]>;
    t.same(eiam.response_types_supported, ['code', 'token']);
    t.same(eiam.response_modes_supported, ['query', 'fragment']);
    t.ok(eiam.grant_types_supported!.includes('implicit'), 'RFC 8414 §2: response_type token is the implicit grant (§5.12)');
    const ciam = (await (await fetch(`${f.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string[]>;
    t.same(ciam.response_types_supported, ['code']);
    t.same(ciam.response_modes_supported, ['query']);
    t.notOk(ciam.grant_types_supported!.includes('implicit'), 'CIAM serves no implicit flow');
  });
});

t.test('menshen check-config accepts implicit and token_exchange clients without a word', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'menshen-implicit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'menshen.yaml');
  const clients = `${extraClients}    - clientId: exchanger\n      clientSecret: exchanger-secret-0123456789\n      grants: [token_exchange]\n`;
  writeFileSync(file, `store: { type: memory }\n${providerYaml({ extraClients: clients }).replaceAll('{{BASE}}', 'http://127.0.0.1:8080')}`);
  const check = spawnMenshen(t, ['check-config', '--config', file]);
  t.equal(await check.exited, 0);
  t.equal(check.stderr(), '', 'no warning');
});
