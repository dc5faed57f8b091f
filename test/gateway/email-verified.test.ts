/**
 * An email is identity only when the issuer says it is verified (`email_verified` true, or the
 * string "true"): an issuer with self-registration could otherwise give anyone victim@corp.com,
 * and allowed_emails / allowed_email_domains, X-Auth-Request-Email, X-Forwarded-Email, {email}
 * templates and the assertion would all trust it (oauth2-proxy refuses unverified emails by
 * default). gateway.oidc.insecureAllowUnverifiedEmail opts out. The built-in provider marks the
 * emails of its directory verified, so its own flow keeps the email header.
 */
import t, { type Test } from 'tap';
import { decodeJwt } from 'jose';
import { startStack, type Stack } from './helpers/stack.js';
import { Browser } from './helpers/browser.js';
import { rawRequest } from './helpers/raw.js';
import type { TestUser } from './helpers/issuer.js';
import { startApp } from '../helpers/app.js';
import { startUpstream } from './helpers/upstream.js';
import { builtinYaml, signIn as builtinSignIn } from './helpers/builtin.js';

const USERS: TestUser[] = [
  { username: 'mallory', email: 'victim@corp.com', emailVerified: 'omit', groups: ['staff'] },
  { username: 'eve', email: 'victim@corp.com', emailVerified: false, groups: ['staff'] },
  { username: 'carol', email: 'carol@corp.com', emailVerified: 'true', groups: ['staff'] },
  { username: 'alice', email: 'alice@corp.com', emailVerified: true, groups: ['staff'] },
];

const ROUTES = `
    - name: app
      match: { pathPrefix: /app }
      upstream: "{{UP}}"
      headers: { X-Remote-Email: "{email}" }
    - name: by-email-claim
      match: { pathPrefix: /mail-claim }
      upstream: "{{UP}}"
      allow: { claims: { email: victim@corp.com } }
`;

async function session(stack: Stack, user: string): Promise<string> {
  const b = new Browser();
  await b.login(`${stack.base}/app/`, user);
  return `menshen=${b.cookie(stack.base, 'menshen')!}`;
}

function startEmailStack(t: Test, oidc = ''): Promise<Stack> {
  return startStack(t, {
    server: '  trustProxy: ["127.0.0.1"]',
    routes: ROUTES,
    issuer: { users: USERS },
    gateway: '  bearer: { audiences: [orders-api] }',
    oidc,
  });
}

/** What the upstream saw for one proxied request, and what forward-auth answers for the same user. */
async function look(stack: Stack, cookie: string) {
  const host = new URL(stack.base).host;
  const page = await rawRequest(stack.base, '/app/x', { headers: { accept: 'application/json', cookie } });
  const echo = JSON.parse(page.body) as { headers: Record<string, string | undefined> };
  const fa = (query: string) =>
    rawRequest(stack.base, `/_menshen/auth${query}`, {
      headers: { accept: 'application/json', cookie, 'x-forwarded-host': host, 'x-forwarded-uri': '/app/x' },
    });
  const userinfo = await rawRequest(stack.base, '/_menshen/userinfo', { headers: { accept: 'application/json', cookie } });
  return {
    status: page.status,
    upstream: echo.headers,
    assertion: decodeJwt(String(echo.headers['x-menshen-assertion'])),
    byEmail: (await fa('?allowed_emails=victim@corp.com')).status,
    byDomain: (await fa('?allowed_email_domains=corp.com')).status,
    forwardAuthEmail: (await fa('')).headers['x-auth-request-email'],
    byClaim: (await rawRequest(stack.base, '/mail-claim/x', { headers: { accept: 'application/json', cookie } })).status,
    userinfo: JSON.parse(userinfo.body) as Record<string, unknown>,
  };
}

t.test('an email without email_verified true is no email: not in headers, not matched by policy', async (t) => {
  const stack = await startEmailStack(t);
  for (const user of ['mallory', 'eve']) {
    const seen = await look(stack, await session(stack, user));
    t.equal(seen.status, 200, `${user}: signed in and proxied`);
    t.equal(seen.upstream['x-auth-request-user'], stack.issuer.subOf(user), `${user}: the subject still goes upstream`);
    t.equal(seen.upstream['x-auth-request-email'], undefined, `${user}: no X-Auth-Request-Email`);
    t.equal(seen.upstream['x-forwarded-email'], undefined, `${user}: no X-Forwarded-Email`);
    t.equal(seen.upstream['x-remote-email'], undefined, `${user}: no {email} template value`);
    t.equal(seen.assertion.email, undefined, `${user}: no email in the assertion`);
    t.equal(seen.forwardAuthEmail, undefined, `${user}: no email on the forward-auth answer`);
    t.equal(seen.byEmail, 403, `${user}: allowed_emails refuses`);
    t.equal(seen.byDomain, 403, `${user}: allowed_email_domains refuses`);
    t.equal(seen.byClaim, 403, `${user}: an allow.claims email rule does not match`);
    t.equal(seen.userinfo.email, undefined, `${user}: /_menshen/userinfo shows no email`);
  }
});

t.test('email_verified true, or the string "true", makes the email identity', async (t) => {
  const stack = await startEmailStack(t);
  for (const [user, email] of [['alice', 'alice@corp.com'], ['carol', 'carol@corp.com']] as const) {
    const seen = await look(stack, await session(stack, user));
    t.equal(seen.upstream['x-auth-request-email'], email, `${user}: X-Auth-Request-Email`);
    t.equal(seen.upstream['x-forwarded-email'], email, `${user}: X-Forwarded-Email`);
    t.equal(seen.upstream['x-remote-email'], email, `${user}: {email} template`);
    t.equal(seen.assertion.email, email, `${user}: assertion`);
    t.equal(seen.forwardAuthEmail, email, `${user}: forward-auth answer`);
    t.equal(seen.byDomain, 200, `${user}: allowed_email_domains admits`);
    t.equal(seen.byEmail, 403, `${user}: allowed_emails still compares the address`);
    t.equal(seen.userinfo.email, email, `${user}: /_menshen/userinfo`);
  }
});

t.test('a bearer JWT with an unverified email carries no email either', async (t) => {
  const stack = await startEmailStack(t);
  const now = Math.floor(Date.now() / 1000);
  const token = (extra: Record<string, unknown>) =>
    stack.issuer.sign({ iss: stack.issuer.url, sub: 'sub-api', aud: 'orders-api', iat: now, exp: now + 300, email: 'victim@corp.com', ...extra });
  const call = async (bearer: string) => {
    const res = await rawRequest(stack.base, '/app/x', { headers: { accept: 'application/json', authorization: `Bearer ${bearer}` } });
    t.equal(res.status, 200);
    return (JSON.parse(res.body) as { headers: Record<string, string | undefined> }).headers;
  };
  t.equal((await call(await token({})))['x-auth-request-email'], undefined, 'no email_verified: no email');
  t.equal((await call(await token({ email_verified: 'false' })))['x-auth-request-email'], undefined, '"false": no email');
  t.equal((await call(await token({ email_verified: true })))['x-auth-request-email'], 'victim@corp.com', 'verified: the email');
});

t.test('gateway.oidc.insecureAllowUnverifiedEmail: true takes unverified emails (explicit opt-out)', async (t) => {
  const stack = await startEmailStack(t, '    insecureAllowUnverifiedEmail: true');
  t.equal(stack.gw.app.menshen.config.gateway!.oidc.insecureAllowUnverifiedEmail, true);
  for (const user of ['mallory', 'eve']) {
    const seen = await look(stack, await session(stack, user));
    t.equal(seen.upstream['x-auth-request-email'], 'victim@corp.com', `${user}: X-Auth-Request-Email`);
    t.equal(seen.upstream['x-forwarded-email'], 'victim@corp.com', `${user}: X-Forwarded-Email`);
    t.equal(seen.byEmail, 200, `${user}: allowed_emails admits`);
    t.equal(seen.byClaim, 200, `${user}: the claims rule matches`);
  }
});

t.test('the built-in provider marks its directory emails verified: its flow keeps the email header', async (t) => {
  const upstream = await startUpstream(t);
  const gw = await startApp(t, builtinYaml(upstream.url));
  await gw.app.menshen.readiness.get('issuer')!();
  t.equal(gw.app.menshen.config.gateway!.oidc.insecureAllowUnverifiedEmail, false, 'the default applies');
  const b = new Browser();
  const page = await builtinSignIn(b, `${gw.base}/x`, 'alice');
  t.equal(page.status, 200);
  const seen = upstream.received.at(-1)!.headers;
  t.equal(seen['x-auth-request-email'], 'alice@example.com');
  t.equal(seen['x-forwarded-email'], 'alice@example.com');

  // The id token itself, from the provider's token endpoint (password grant is not enabled for
  // 'demo'; the session's stored id token is what the gateway validated).
  const info = await rawRequest(gw.base, '/_menshen/userinfo', { headers: { accept: 'application/json', cookie: `menshen=${b.cookie(gw.base, 'menshen')!}` } });
  const claims = JSON.parse(info.body) as Record<string, unknown>;
  t.equal(claims.email, 'alice@example.com');
  t.equal(claims.email_verified, true, 'the id token carried email_verified: true');
});
