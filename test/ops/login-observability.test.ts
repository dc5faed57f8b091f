/**
 * A full login through the built-in provider and the gateway in one app (the shape of
 * config/menshen.yaml, on Redis), then a transparent refresh, with every log line captured at
 * trace level: /metrics counts the login and the refresh, and no secret the flow handled (password,
 * code, state, cookies, tokens, client and cookie secrets) appears in any log line.
 */
import t from 'tap';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { ManualClock } from '../../src/clock.js';
import { loggerOptions } from '../../src/ops/logger.js';
import { startApp, TEST_PASSWORD, TEST_PASSWORD_HASH } from '../helpers/app.js';
import { freePort } from '../helpers/redis-server.js';
import { testRedisUrl } from '../helpers/store.js';
import { CookieBrowser, LogLines, sample } from './helpers.js';

const CLIENT_SECRET = 'e2e-client-secret-Q7w9Zk2Lx4';
const COOKIE_SECRET = 'e2e-cookie-secret-0123456789-P3nM8vR2';
const ACCESS_TTL = 300;
const REFRESH_BEFORE = 60;

function yaml(upstream: string): string {
  return `
server: { listen: "127.0.0.1:0", publicUrl: "{{BASE}}" }
store: { type: redis, redis: { url: "${testRedisUrl()}" } }
provider:
  issuer: "{{BASE}}/idp"
  tokens: { accessTtl: ${ACCESS_TTL} }
  clients:
    - clientId: gateway
      clientSecret: ${CLIENT_SECRET}
      redirectUris: ["{{BASE}}/_menshen/callback"]
      grants: [authorization_code, refresh_token]
  users:
    - username: alice
      passwordHash: "${TEST_PASSWORD_HASH}"
      email: alice@example.com
      groups: [staff]
gateway:
  oidc: { clientId: gateway, clientSecret: ${CLIENT_SECRET} }
  session: { secret: ${COOKIE_SECRET}, refreshBefore: ${REFRESH_BEFORE} }
  routes:
    - name: crm
      match: { pathPrefix: /crm }
      upstream: "${upstream}"
      passAccessToken: true
`;
}

/** An upstream that records the headers the gateway sent (the tokens it forwarded). */
async function recordingUpstream(t: { teardown(fn: () => unknown): void }) {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/html' }).end('<p>crm</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen };
}

const hidden = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1]?.replace(/&amp;/g, '&');

t.test('a login and a refresh, observed', async (t) => {
  const upstream = await recordingUpstream(t);
  const logs = new LogLines();
  const clock = new ManualClock();
  const port = await freePort();
  const { app, base } = await startApp(t, yaml(upstream.url), {
    port,
    clock,
    logger: { ...(loggerOptions('trace', false) as object), stream: logs.stream() },
  });
  await app.menshen.readiness.get('issuer')!();
  const browser = new CookieBrowser();

  // 1. The gateway sends the browser to the provider's login page.
  const loginPage = await browser.navigate(`${base}/crm/home`);
  t.equal(loginPage.status, 200);
  t.match(loginPage.url, `${base}/idp/`, 'at the provider');
  const pState = hidden(loginPage.body, 'p_state');
  const csrf = hidden(loginPage.body, 'csrf');
  t.ok(pState && csrf, 'the login form');

  // 2. Password at the provider, code back to the gateway, session, original URL.
  const action = new URL(/<form method="post" action="([^"]+)"/.exec(loginPage.body)![1]!.replace(/&amp;/g, '&'), loginPage.url).href;
  const landed = await browser.submit(action, { p_state: pState!, csrf: csrf!, username: 'alice', password: TEST_PASSWORD });
  t.equal(landed.status, 200);
  t.equal(landed.url, `${base}/crm/home`, 'signed in and back');
  const callback = new URL(browser.visited.find((u) => u.startsWith(`${base}/_menshen/callback`))!);
  const code = callback.searchParams.get('code')!;
  const state = callback.searchParams.get('state')!;
  const firstAccessToken = upstream.seen.at(-1)!.authorization!.replace(/^Bearer /, '');
  const assertion = upstream.seen.at(-1)!['x-menshen-assertion'] as string;

  // 3. Time passes to within refreshBefore of the access token's expiry: the next request refreshes.
  clock.advance((ACCESS_TTL - REFRESH_BEFORE + 5) * 1000);
  const after = await browser.navigate(`${base}/crm/later`);
  t.equal(after.status, 200);
  const secondAccessToken = upstream.seen.at(-1)!.authorization!.replace(/^Bearer /, '');
  t.not(secondAccessToken, firstAccessToken, 'the upstream got a refreshed access token');

  t.test('/metrics counts the login and the refresh', async (t) => {
    const text = await (await fetch(`${base}/metrics`)).text();
    t.equal(sample(text, 'menshen_logins_total', { where: 'provider', outcome: 'success' }), 1, 'password login at the provider');
    t.equal(sample(text, 'menshen_logins_total', { where: 'gateway', outcome: 'success' }), 1, 'completed login at the gateway');
    t.equal(sample(text, 'menshen_sessions_total', { event: 'created' }), 1);
    t.equal(sample(text, 'menshen_session_refreshes_total', { outcome: 'success' }), 1);
    t.equal(sample(text, 'menshen_token_grants_total', { grant_type: 'authorization_code', error: '' }), 1);
    t.equal(sample(text, 'menshen_token_grants_total', { grant_type: 'refresh_token', error: '' }), 1);
    t.ok(sample(text, 'menshen_http_requests_total', { route: 'crm', status: '200' }) >= 2, 'proxied requests under the route name');
    t.ok(Number.isNaN(sample(text, 'menshen_store_errors_total')), 'no store errors');
  });

  t.test('no secret of the flow appears in any log line', async (t) => {
    t.ok(logs.lines.length > 10, `${logs.lines.length} lines captured at trace level`);
    const cookies = [...browser.cookies.entries()];
    const secrets: Array<[string, string]> = [
      ['the password', TEST_PASSWORD],
      ['the authorization code', code],
      ['the state', state],
      ['the provider login state', pState!],
      ['the login form CSRF token', csrf!],
      ['the first access token', firstAccessToken],
      ['the refreshed access token', secondAccessToken],
      ['the identity assertion', assertion],
      ['the client secret', CLIENT_SECRET],
      ['the cookie secret', COOKIE_SECRET],
      ...cookies.map(([name, value]): [string, string] => [`cookie ${name}`, decodeURIComponent(value)]),
      // Tickets are `<id>.<secret>[.<signature>]`: the id may be logged (it is the OIDC `sid`
      // claim, useless without the secret); the secret part on its own must not be.
      ...cookies.flatMap(([name, value]) =>
        decodeURIComponent(value)
          .split('.')
          .slice(1)
          .filter((part) => part.length >= 16)
          .map((part): [string, string] => [`the secret part of cookie ${name}`, part]),
      ),
    ];
    t.ok(cookies.length >= 1, 'the browser holds the session cookie');
    for (const [what, value] of secrets) {
      const at = logs.raw.indexOf(value);
      t.notOk(at >= 0, `${what} is not logged`, at >= 0 ? { found: logs.raw.slice(Math.max(0, at - 300), at + value.length + 50) } : {});
    }
    t.notMatch(logs.raw, /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\./, 'no JWT of any kind');

    const access = logs.lines.filter((l) => l.msg === 'request' && l.route === 'crm');
    t.same(access.map((l) => [l.url, l.status]), [['/crm/home', 302], ['/crm/home', 200], ['/crm/later', 200]], 'one access line per request');
    t.match(access[1], { sub: String }, 'with the user sub');
  });
});
