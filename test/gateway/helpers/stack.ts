/**
 * The whole cast for a gateway test: an echoing upstream, panva's oidc-provider as the external
 * issuer, and menshen's gateway in front (real listeners on 127.0.0.1, real Redis unless asked
 * otherwise), plus a cookie-jar browser and the gateway's ManualClock.
 */
import { ManualClock } from '../../../src/clock.js';
import { MemoryStore } from '../../../src/store/memory.js';
import type { KvStore } from '../../../src/store/store.js';
import { startApp, type RunningApp } from '../../helpers/app.js';
import { freePort } from '../../helpers/redis-server.js';
import { testRedisUrl } from '../../helpers/store.js';
import { Browser } from './browser.js';
import { startIssuer, type IssuerOptions, type TestIssuer } from './issuer.js';
import { startUpstream, type TestUpstream } from './upstream.js';

/** GW_LOG=debug shows the gateway's logs while debugging a test. */
export function debugLogger(): { logger?: object } {
  return process.env.GW_LOG ? { logger: { level: process.env.GW_LOG } } : {};
}

export const COOKIE_SECRET = 'test-cookie-secret-0123456789abcdef0123';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

/** The default routes: `{{UP}}` is the upstream URL. */
export const DEFAULT_ROUTES = `
    - name: app
      match: { pathPrefix: /app }
      upstream: "{{UP}}"
      publicPaths: [/app/public/]
      headers: { X-Remote-User: "{preferred_username}", X-Remote-Groups: "{groups}" }
    - name: staff
      match: { pathPrefix: /staff }
      upstream: "{{UP}}"
      allow: { groups: [staff] }
    - name: open
      match: { pathPrefix: /open }
      upstream: "{{UP}}"
      auth: none
    - name: maybe
      match: { pathPrefix: /maybe }
      upstream: "{{UP}}"
      auth: optional
    - name: api
      match: { pathPrefix: /api }
      upstream: "{{UP}}"
      passAccessToken: true
    - name: ws
      match: { pathPrefix: /ws }
      upstream: "{{UP}}"
      websocket: true
`;

export interface GatewayYamlOptions {
  issuer: Pick<TestIssuer, 'url' | 'clientId' | 'clientSecret'>;
  upstream: TestUpstream;
  /** publicUrl; default {{BASE}} (the app's own URL). */
  publicUrl?: string;
  routes?: string;
  store?: 'redis' | 'memory';
  /** Extra YAML under `server:` (indented 2 spaces). */
  server?: string;
  /** Extra YAML under `gateway:` (indented 2 spaces). */
  gateway?: string;
  /** Extra YAML under `gateway.oidc:` (indented 4 spaces). */
  oidc?: string;
  refreshBefore?: number;
  /** gateway.session.secret; default COOKIE_SECRET. */
  sessionSecret?: string | string[];
}

export function gatewayYaml(o: GatewayYamlOptions): string {
  return `
server:
  listen: 127.0.0.1:0
  publicUrl: "${o.publicUrl ?? '{{BASE}}'}"
${o.server ?? ''}
store:
  type: ${o.store ?? 'redis'}
${o.store === 'memory' ? '' : `  redis: { url: "${testRedisUrl()}" }`}
gateway:
  oidc:
    issuer: ${o.issuer.url}
    clientId: ${o.issuer.clientId}
    clientSecret: ${o.issuer.clientSecret}
    scopes: [openid, profile, email, groups, offline_access]
${o.oidc ?? ''}
  session:
    secret: ${JSON.stringify(o.sessionSecret ?? COOKIE_SECRET)}
    refreshBefore: ${o.refreshBefore ?? 60}
${o.gateway ?? ''}
  routes:
${(o.routes ?? DEFAULT_ROUTES).replaceAll('{{UP}}', o.upstream.url)}
`;
}

export interface Stack {
  gw: RunningApp;
  base: string;
  issuer: TestIssuer;
  upstream: TestUpstream;
  browser: Browser;
  clock: ManualClock;
}

export interface StackOptions extends Omit<GatewayYamlOptions, 'issuer' | 'upstream'> {
  issuer?: Partial<IssuerOptions>;
  /** A store to share (two gateways on one Redis, or a private Redis). */
  kv?: KvStore;
}

export async function startStack(t: Teardownable, o: StackOptions = {}): Promise<Stack> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const upstream = await startUpstream(t);
  const issuer = await startIssuer(t, { gatewayBases: [base], ...o.issuer });
  const clock = new ManualClock();
  const kv = o.kv ?? (o.store === 'memory' ? new MemoryStore(() => clock.now()) : undefined);
  const gw = await startApp(t, gatewayYaml({ ...o, issuer, upstream }), { port, clock, ...(kv ? { store: kv } : {}), ...debugLogger() });
  await gw.app.menshen.readiness.get('issuer')!();
  return { gw, base, issuer, upstream, browser: new Browser(), clock };
}

/** The upstream's JSON echo of a page. */
export function echoOf(page: { body: string }): { method: string; url: string; headers: Record<string, string | string[] | undefined>; body: string } {
  return JSON.parse(page.body) as ReturnType<typeof echoOf>;
}
