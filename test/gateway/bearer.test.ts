/**
 * Bearer API clients against the built-in provider (whose access tokens are typ at+jwt, RFC 9068):
 * only access tokens whose aud is a configured API audience log in. An id token (same issuer, same
 * keys) never does, and neither does the gateway's own access token, which passAccessToken hands
 * to upstreams (one upstream could otherwise replay it on every route), unless
 * gateway.bearer.acceptGatewayAudience says so.
 */
import t from 'tap';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startApp } from '../helpers/app.js';
import { TEST_PASSWORD, TEST_PASSWORD_HASH } from '../helpers/app.js';
import { startUpstream } from './helpers/upstream.js';
import { Browser } from './helpers/browser.js';
import { signIn } from './helpers/builtin.js';
import { rawRequest } from './helpers/raw.js';

const DEMO_SECRET = 'demo-secret-0123456789abcdef';
const API_SECRET = 'orders-api-secret-0123456789abcdef';

function yaml(upstream: string, bearer: string): string {
  return `
server: { listen: "127.0.0.1:0", publicUrl: "{{BASE}}" }
store: { type: memory }
provider:
  issuer: "{{BASE}}/idp"
  clients:
    - clientId: demo
      clientSecret: ${DEMO_SECRET}
      redirectUris: ["{{BASE}}/_menshen/callback"]
      grants: [authorization_code, refresh_token]
    - clientId: orders-api
      clientSecret: ${API_SECRET}
      redirectUris: []
      grants: [password]
  users:
    - { username: alice, passwordHash: "${TEST_PASSWORD_HASH}", email: alice@example.com, groups: [staff] }
gateway:
  oidc: { clientId: demo, clientSecret: ${DEMO_SECRET} }
  session: { secret: test-cookie-secret-0123456789abcdef0123 }
  bearer: ${bearer}
  routes:
    - name: legacy
      match: { pathPrefix: /legacy }
      upstream: "${upstream}"
      passAccessToken: true
    - name: admin
      match: { pathPrefix: /admin }
      upstream: "${upstream}"
`;
}

async function passwordGrant(base: string): Promise<{ access_token: string; id_token: string }> {
  const res = await fetch(`${base}/idp/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', client_id: 'orders-api', client_secret: API_SECRET, username: 'alice', password: TEST_PASSWORD, scope: 'openid' }),
  });
  if (res.status !== 200) throw new Error(`password grant: ${res.status} ${await res.text()}`);
  return (await res.json()) as { access_token: string; id_token: string };
}

const call = (base: string, token: string) =>
  rawRequest(base, '/admin/panel', { headers: { accept: 'application/json', authorization: `Bearer ${token}` } });

t.test('built-in provider: only access tokens for a configured API audience log in', async (t) => {
  const upstream = await startUpstream(t);
  const gw = await startApp(t, yaml(upstream.url, '{ audiences: [orders-api] }'));
  await gw.app.menshen.readiness.get('issuer')!();

  const api = await passwordGrant(gw.base);
  t.equal(decodeProtectedHeader(api.access_token).typ, 'at+jwt');
  const ok = await call(gw.base, api.access_token);
  t.equal(ok.status, 200, "an access token for orders-api");
  t.equal(JSON.parse(ok.body).headers['x-auth-request-user'], decodeJwt(api.access_token).sub, 'the identity the token names');

  const idToken = await call(gw.base, api.id_token);
  t.equal(idToken.status, 401, 'its id token (aud orders-api, typ JWT) is not an access token');
  t.match(JSON.parse(idToken.body).error_description, /not an access token/);

  // The gateway's own access token, as the passAccessToken upstream received it.
  const b = new Browser();
  await signIn(b, `${gw.base}/legacy/x`, 'alice');
  const passed = String(upstream.received.at(-1)!.headers.authorization).replace(/^Bearer /, '');
  t.equal(decodeJwt(passed).aud, 'demo');
  const adminHits = upstream.received.filter((r) => r.url.startsWith('/admin')).length;
  const replay = await call(gw.base, passed);
  t.equal(replay.status, 401, 'the upstream cannot replay it on another route');
  t.match(JSON.parse(replay.body).error_description, /not meant for this gateway/);
  t.equal(upstream.received.filter((r) => r.url.startsWith('/admin')).length, adminHits, 'nothing more reached the admin upstream');
});

t.test("acceptGatewayAudience admits the gateway's own access tokens, still never id tokens", async (t) => {
  const upstream = await startUpstream(t);
  const gw = await startApp(t, yaml(upstream.url, '{ audiences: [], acceptGatewayAudience: true }'));
  await gw.app.menshen.readiness.get('issuer')!();
  const b = new Browser();
  await signIn(b, `${gw.base}/legacy/x`, 'alice');
  const passed = String(upstream.received.at(-1)!.headers.authorization).replace(/^Bearer /, '');
  t.equal((await call(gw.base, passed)).status, 200);
  const api = await passwordGrant(gw.base);
  t.equal((await call(gw.base, api.access_token)).status, 401, 'orders-api is not an accepted audience here');
});

t.test('no audiences: bearer tokens log nobody in', async (t) => {
  const upstream = await startUpstream(t);
  const gw = await startApp(t, yaml(upstream.url, '{ audiences: [] }'));
  await gw.app.menshen.readiness.get('issuer')!();
  const b = new Browser();
  await signIn(b, `${gw.base}/legacy/x`, 'alice');
  const passed = String(upstream.received.at(-1)!.headers.authorization).replace(/^Bearer /, '');
  const res = await call(gw.base, passed);
  t.equal(res.status, 401);
  t.equal(JSON.parse(res.body).error, 'unauthorized', 'treated as no credentials at all');
});
