/**
 * The gateway's parts, built once from the config and shared by its entry points (proxy,
 * websocket, login/callback, logout, forward-auth, userinfo, jwks). The route table is the only
 * part that changes at run time: a config reload swaps it (plugin.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { GatewayConfig } from '../config/schema.js';
import { GATEWAY_PREFIX, PROVIDER_ROOT_PATHS, providerMountPath } from '../config/validate.js';
import type { KvStore } from '../store/store.js';
import type { Clock } from '../clock.js';
import type { Metrics } from '../ops/metrics.js';
import { compileRoutes, normalizeHost, type RouteTable } from './routes.js';
import type { ReservedPaths } from './resolve.js';
import { ProxyTrust } from './trust.js';
import { GatewayCookies } from './session/cookies.js';
import { SessionStore } from './session/store.js';
import { Refresher } from './session/refresh.js';
import { RelyingParty } from './rp.js';
import { inProcessFetch } from './in-process-fetch.js';
import { Authenticator } from './authenticate.js';
import { LoginFlow } from './login.js';
import { Assertions } from './assertions.js';
import type { ErrorDeps } from './errors.js';
import { UpstreamClient } from './upstream-client.js';

export interface Gateway {
  config: GatewayConfig;
  /** server.publicUrl without a trailing slash. */
  publicUrl: string;
  routes(): RouteTable;
  /** Header names set by any route's `headers` templates: stripped from every client request. */
  templateHeaderNames(): readonly string[];
  swapRoutes(table: RouteTable): void;
  reserved: ReservedPaths;
  trust: ProxyTrust;
  cookies: GatewayCookies;
  sessions: SessionStore;
  refresher: Refresher;
  rp: RelyingParty;
  auth: Authenticator;
  login: LoginFlow;
  assertions: Assertions;
  /** The HTTP hop to the upstreams (keep-alive pools, timeouts). */
  upstreams: UpstreamClient;
  errors: ErrorDeps;
  kv: KvStore;
  clock: Clock;
  metrics: Metrics;
}

/** Upstream connections per origin (undici keep-alive pool). */
const UPSTREAM_CONNECTIONS = 128;

/** True when the relying party talks to the built-in provider of this same process. */
export function usesBuiltInProvider(app: FastifyInstance): boolean {
  const { provider, gateway } = app.menshen.config;
  if (!provider) return false;
  const issuer = gateway?.oidc.issuer;
  return !issuer || issuer.replace(/\/+$/, '') === provider.issuer.replace(/\/+$/, '');
}

export function buildGateway(app: FastifyInstance): Gateway {
  const { config: appConfig, store: kv, clock, metrics } = app.menshen;
  const config = appConfig.gateway!;
  const provider = appConfig.provider;
  const publicUrl = appConfig.server.publicUrl.replace(/\/+$/, '');
  const builtIn = usesBuiltInProvider(app);

  let table = compileRoutes(config.routes);
  if (!builtIn) {
    const withUsers = config.routes.filter((r) => r.allow.users.length > 0).map((r) => r.name);
    if (withUsers.length > 0)
      app.log.warn(
        { routes: withUsers },
        'allow.users matches only sub with an external issuer (usernames may be chosen or changed there); list sub values, or use allow.claims.preferred_username deliberately',
      );
  }
  const namesOf = (t: RouteTable) => [...new Set(t.routes.flatMap((r) => Object.keys(r.config.headers)))];
  let templateNames = namesOf(table);
  const cookies = new GatewayCookies({ cookieName: config.session.cookieName, secrets: config.session.secret, publicUrl });
  const sessions = new SessionStore(kv, clock, { ttl: config.session.ttl, idleTtl: config.session.idleTtl });
  const rp = new RelyingParty({
    issuer: config.oidc.issuer ?? provider!.issuer,
    clientId: config.oidc.clientId,
    ...(config.oidc.clientSecret ? { clientSecret: config.oidc.clientSecret } : {}),
    scopes: config.oidc.scopes,
    redirectUri: `${publicUrl}${GATEWAY_PREFIX}/callback`,
    ...(builtIn ? { fetch: inProcessFetch(app) } : {}),
    clock,
    log: app.log,
  });
  const refresher = new Refresher({ kv, sessions, rp, clock, metrics, refreshBefore: config.session.refreshBefore, log: app.log });
  const auth = new Authenticator({
    cookies,
    sessions,
    refresher,
    rp,
    bearer: {
      enabled: config.bearer.enabled,
      audiences: [...config.bearer.audiences, ...(config.bearer.acceptGatewayAudience ? [config.oidc.clientId] : [])],
      requireAtJwt: builtIn,
    },
    identity: { allowUnverifiedEmail: config.oidc.insecureAllowUnverifiedEmail },
    // allow.users matches preferred_username only where usernames are the operator's: the
    // built-in provider (unique, assigned in its directory). An external issuer: sub only.
    policy: { usernames: builtIn },
    onBackgroundError: (err) => {
      app.log.warn({ err: (err as Error).message }, 'sliding the session idle window failed');
    },
  });
  const login = new LoginFlow({ kv, rp, cookies, sessions, metrics, publicUrl, sessionTtl: config.session.ttl, clock, loginRateLimit: config.loginRateLimit });
  const assertions = new Assertions({
    keys: {
      configured: config.assertionKeys,
      secrets: Array.isArray(config.session.secret) ? config.session.secret : [config.session.secret],
      kv,
      log: app.log,
    },
    issuer: publicUrl,
    clock,
  });
  const reserved: ReservedPaths = {
    gatewayPrefix: GATEWAY_PREFIX,
    providerMount: provider ? providerMountPath(provider.issuer) : null,
    providerRootPaths: PROVIDER_ROOT_PATHS,
    providerHosts: (provider?.hosts ?? []).map(normalizeHost),
  };
  return {
    config,
    publicUrl,
    routes: () => table,
    templateHeaderNames: () => templateNames,
    swapRoutes: (next) => {
      templateNames = namesOf(next);
      table = next;
    },
    reserved,
    trust: new ProxyTrust(appConfig.server.trustProxy),
    cookies,
    sessions,
    refresher,
    rp,
    auth,
    login,
    assertions,
    upstreams: new UpstreamClient({
      connections: UPSTREAM_CONNECTIONS,
      keepAliveTimeoutMs: 30_000,
      // Bounded waits on every upstream (review finding: undici's defaults let a silent upstream
      // hold a pooled connection for 5 minutes per request). Headers timeout = 504.
      connectTimeoutMs: config.upstreamTimeouts.connect * 1000,
      headersTimeoutMs: config.upstreamTimeouts.headers * 1000,
      bodyTimeoutMs: config.upstreamTimeouts.body * 1000,
    }),
    errors: { startLogin: (req, reply, returnTo) => login.start(req, reply, returnTo) },
    kv,
    clock,
    metrics,
  };
}
