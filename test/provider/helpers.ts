/**
 * Provider test fixture: boots a real app with the built-in provider on 127.0.0.1 (memory or the
 * suite's Redis), a ManualClock, and three clients (confidential `web`, public `spa`, EIAM-style
 * opaque `legacy`), plus raw-HTTP helpers: a cookie jar and a form login that walks authorize ->
 * login page -> redirect like a browser without JavaScript would.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { ManualClock } from '../../src/clock.js';
import { startApp, TEST_PASSWORD, TEST_PASSWORD_HASH, type RunningApp } from '../helpers/app.js';
import { freePort } from '../helpers/redis-server.js';
import { testRedisStore } from '../helpers/store.js';

export { TEST_PASSWORD };
export const WEB_SECRET = 'web-secret-0123456789abcdef';
export const LEGACY_SECRET = 'legacy-secret-0123456789abcdef';
export const SVC_SECRET = 'svc-secret-0123456789abcdef';
export const CB = 'http://127.0.0.1:9/cb';
export const CB2 = 'http://127.0.0.1:9/cb2';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export interface ProviderFixture extends RunningApp {
  clock: ManualClock;
  /** http://127.0.0.1:port/idp */
  issuer: string;
}

export interface FixtureOptions {
  store?: 'memory' | 'redis';
  bruteForce?: { perUserIp: number; perIp: number; window: number; perUser?: number };
  /** server.trustProxy: tests on 127.0.0.1 pose as other clients through X-Forwarded-For */
  trustProxy?: string[];
  /** extra client YAML entries (each starting with "    - clientId: ...") */
  extraClients?: string;
  hosts?: string[];
}

export function providerYaml(o: FixtureOptions = {}): string {
  return `${o.trustProxy ? `server: { trustProxy: ${JSON.stringify(o.trustProxy)} }\n` : ''}
provider:
  issuer: "{{BASE}}/idp"
${o.hosts ? `  hosts: [${o.hosts.map((h) => JSON.stringify(h)).join(', ')}]\n` : ''}${
    o.bruteForce
      ? `  bruteForce: { perUserIp: ${o.bruteForce.perUserIp}, perIp: ${o.bruteForce.perIp}, window: ${o.bruteForce.window}${
          o.bruteForce.perUser !== undefined ? `, perUser: ${o.bruteForce.perUser}` : ''
        } }\n`
      : ''
  }  authSources:
    - id: pwd
      type: password
      identifiers: [username, phone, email]
    - id: name-only
      type: password
      identifiers: [username]
  clients:
    - clientId: web
      name: "Web <App>"
      clientSecret: ${WEB_SECRET}
      redirectUris: ["${CB}", "${CB2}"]
      postLogoutRedirectUris: ["http://127.0.0.1:9/bye"]
      grants: [authorization_code, refresh_token, password]
      authSources: [pwd, name-only]
    - clientId: spa
      redirectUris: ["${CB}"]
      postLogoutRedirectUris: ["http://127.0.0.1:9/spa-bye", "http://127.0.0.1:9/spa-bye2"]
      grants: [authorization_code, refresh_token, password]
      authSources: [pwd]
    - clientId: legacy
      clientSecret: ${LEGACY_SECRET}
      redirectUris: ["${CB}"]
      grants: [authorization_code, refresh_token, password]
      accessTokenFormat: opaque
    - clientId: svc
      clientSecret: ${SVC_SECRET}
      grants: [client_credentials]
      scopes: [identity_proofing, reports]
${o.extraClients ?? ''}
  users:
    - username: alice
      passwordHash: "${TEST_PASSWORD_HASH}"
      email: alice@example.com
      phone: "+8615088888888"
      name: Alice
      nickname: ali
      groups: [staff, admins]
    - username: bob
      passwordHash: "${TEST_PASSWORD_HASH}"
      groups: []
    - username: frozen
      passwordHash: "${TEST_PASSWORD_HASH}"
      status: locked
`;
}

/** With store 'redis' the app runs on the suite's Redis under a unique prefix (config says memory). */
export async function startProvider(t: Teardownable, o: FixtureOptions = {}): Promise<ProviderFixture> {
  const clock = new ManualClock();
  const store = o.store === 'redis' ? await testRedisStore() : undefined;
  if (store) t.teardown(() => store.close());
  const running = await startApp(t, providerYaml(o), { clock, ...(store ? { store } : {}) });
  return { ...running, clock, issuer: `${running.base}/idp` };
}

/** A minimal cookie jar for raw fetch. */
export class Jar {
  readonly cookies = new Map<string, string>();

  update(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export function form(params: Record<string, string>): { method: 'POST'; headers: Record<string, string>; body: string } {
  return { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() };
}

/** Fetches without following redirects: status, headers, the body as text, and as JSON when it parses. */
export async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, { redirect: 'manual', ...init });
  const text = await res.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** POSTs a form to the token endpoint (CIAM unless a path is given). */
export async function token(f: ProviderFixture, params: Record<string, string>, opts: { path?: string; headers?: Record<string, string> } = {}) {
  const init = form(params);
  const res = await fetch(`${f.issuer}${opts.path ?? '/oauth2/token'}`, { ...init, headers: { ...init.headers, ...opts.headers } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

export function hidden(html: string, name: string): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!m) throw new Error(`no hidden field ${name}`);
  return m[1]!.replace(/&amp;/g, '&');
}

/**
 * Walks authorize like a browser: follows to the login page when needed, submits the credentials,
 * and returns the final redirect to the client (with code or error) and the jar.
 */
export async function browserAuthorize(
  f: ProviderFixture,
  authorizeUrl: string,
  creds: { username: string; password: string } | null,
  jar = new Jar(),
): Promise<{ location: URL; jar: Jar; loginPageStatus?: number }> {
  const r1 = await fetch(authorizeUrl, { redirect: 'manual', headers: { cookie: jar.header() } });
  jar.update(r1);
  const loc1 = new URL(r1.headers.get('location') ?? '', f.base);
  if (!loc1.pathname.endsWith('/login')) return { location: loc1, jar };
  if (!creds) throw new Error('login page reached without credentials');
  const page = await fetch(loc1, { headers: { cookie: jar.header() } });
  jar.update(page);
  const html = await page.text();
  const post = form({ p_state: hidden(html, 'p_state'), csrf: hidden(html, 'csrf'), ...creds });
  const r2 = await fetch(`${f.issuer}/login`, { ...post, redirect: 'manual', headers: { ...post.headers, cookie: jar.header() } });
  jar.update(r2);
  if (r2.status !== 303) throw new Error(`login answered ${r2.status}: ${await r2.text()}`);
  return { location: new URL(r2.headers.get('location')!, f.base), jar, loginPageStatus: page.status };
}

export function authorizeUrl(f: ProviderFixture, params: Record<string, string>, path = '/oauth2/authorize'): string {
  return `${f.issuer}${path}?${new URLSearchParams(params).toString()}`;
}

/** A real HTTP listener on 127.0.0.1 that records the back-channel logout POSTs it receives. */
export async function backchannelReceiver(t: Teardownable): Promise<{ url: string; next(): Promise<{ body: string; req: IncomingMessage }> }> {
  const waiting: Array<(v: { body: string; req: IncomingMessage }) => void> = [];
  const queued: Array<{ body: string; req: IncomingMessage }> = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      res.end('ok');
      const item = { body, req };
      const w = waiting.shift();
      if (w) w(item);
      else queued.push(item);
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return {
    url: `http://127.0.0.1:${port}/backchannel`,
    next: () => new Promise((resolve) => (queued.length ? resolve(queued.shift()!) : waiting.push(resolve))),
  };
}
