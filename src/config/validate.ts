/**
 * Checks the schema cannot express (cross-field rules, URLs, uniqueness). Every problem is reported
 * with its YAML path so an operator can fix them all in one go.
 */
import type { Config } from './schema.js';
import { normalizePath } from '../gateway/path.js';
import { headerNameProblem } from '../gateway/headers.js';

export interface ConfigProblem {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reserved gateway paths that no route may shadow. */
export const GATEWAY_PREFIX = '/_menshen';

/** Top-level paths the provider serves when its issuer has no path of its own. */
export const PROVIDER_ROOT_PATHS = ['/oauth2', '/auth', '/sso', '/api', '/userinfo', '/logout', '/.well-known', '/login'];

function absoluteHttpUrl(value: string): URL | null {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
}

export function parseListen(listen: string): { host: string; port: number } | null {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  if (!m) return null;
  const port = Number(m[2]);
  if (port > 65535) return null;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Path of the provider mount, without a trailing slash ('' when the issuer has no path). */
export function providerMountPath(issuer: string): string {
  return new URL(issuer).pathname.replace(/\/+$/, '');
}

function prefixesOverlap(a: string, b: string): boolean {
  const norm = (p: string) => (p.endsWith('/') ? p : `${p}/`);
  return norm(a).startsWith(norm(b)) || norm(b).startsWith(norm(a));
}

export function validateSemantics(c: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });

  if (!parseListen(c.server.listen)) add('server.listen', 'must be host:port');
  if (c.server.metricsListen !== undefined && !parseListen(c.server.metricsListen))
    add('server.metricsListen', 'must be host:port');
  if (!absoluteHttpUrl(c.server.publicUrl)) add('server.publicUrl', 'must be an absolute http(s) URL');

  if (c.store.type === 'redis') {
    const r = c.store.redis;
    const modes = [r.url, r.sentinel, r.cluster].filter((m) => m !== undefined).length;
    if (modes !== 1) add('store.redis', 'set exactly one of url, sentinel, cluster');
    if (r.url !== undefined && !/^rediss?:\/\//.test(r.url)) add('store.redis.url', 'must start with redis:// or rediss://');
  }

  const p = c.provider;
  if (p) {
    const issuer = absoluteHttpUrl(p.issuer);
    if (!issuer || issuer.search || issuer.hash) add('provider.issuer', 'must be an absolute http(s) URL without query or fragment');
    if (typeof p.keys === 'string') {
      try {
        const parsed = JSON.parse(p.keys) as { keys?: unknown };
        if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) add('provider.keys', 'must be a JWK set with at least one key');
      } catch {
        add('provider.keys', 'must be a JSON JWK set');
      }
    }
    const sourceIds = new Set<string>();
    p.authSources.forEach((s, i) => {
      if (sourceIds.has(s.id)) add(`provider.authSources[${i}].id`, `duplicate auth source '${s.id}'`);
      sourceIds.add(s.id);
    });
    const clientIds = new Set<string>();
    p.clients.forEach((cl, i) => {
      const at = `provider.clients[${i}]`;
      if (clientIds.has(cl.clientId)) add(`${at}.clientId`, `duplicate client '${cl.clientId}'`);
      clientIds.add(cl.clientId);
      cl.redirectUris.forEach((u, j) => {
        const url = absoluteHttpUrl(u);
        if (!url || url.hash) add(`${at}.redirectUris[${j}]`, 'must be an absolute http(s) URL without fragment');
      });
      cl.postLogoutRedirectUris.forEach((u, j) => {
        if (!absoluteHttpUrl(u)) add(`${at}.postLogoutRedirectUris[${j}]`, 'must be an absolute http(s) URL');
      });
      if (cl.backchannelLogoutUri && !absoluteHttpUrl(cl.backchannelLogoutUri))
        add(`${at}.backchannelLogoutUri`, 'must be an absolute http(s) URL');
      cl.authSources.forEach((s, j) => {
        if (!sourceIds.has(s)) add(`${at}.authSources[${j}]`, `unknown auth source '${s}'`);
      });
      if (cl.clientSecret !== undefined && cl.clientSecret.length < 16)
        add(`${at}.clientSecret`, 'must be at least 16 characters');
      if (cl.grants.includes('authorization_code') && cl.redirectUris.length === 0)
        add(`${at}.redirectUris`, 'authorization_code needs at least one redirect URI');
      if (cl.clientSecret === undefined && cl.grants.includes('client_credentials'))
        add(`${at}.grants`, 'client_credentials needs a clientSecret');
      if (cl.clientSecret === undefined && cl.grants.includes('token_exchange'))
        add(`${at}.grants`, 'token_exchange needs a clientSecret');
      if (cl.grants.includes('implicit') && cl.redirectUris.length === 0)
        add(`${at}.redirectUris`, 'implicit needs at least one redirect URI');
      // With the SMS factor on, a password grant answers mfa_required (protocols.md §5.1) and
      // only mfa_oob finishes it: without that grant the client's MFA users could never sign in.
      if (p.mfa.sms.enabled && cl.grants.includes('password') && !cl.grants.includes('mfa_oob'))
        add(`${at}.grants`, 'needs mfa_oob when provider.mfa.sms.enabled and the client has password');
    });
    const usernames = new Set<string>();
    p.users.forEach((u, i) => {
      if (usernames.has(u.username)) add(`provider.users[${i}].username`, `duplicate user '${u.username}'`);
      usernames.add(u.username);
      if (u.passwordHash !== undefined && !u.passwordHash.startsWith('$scrypt$'))
        add(`provider.users[${i}].passwordHash`, 'must be a hash from `menshen hash-password`');
    });
    const sms = p.mfa.sms;
    if (sms.enabled && sms.sender === 'webhook' && !absoluteHttpUrl(sms.webhook.url))
      add('provider.mfa.sms.webhook.url', 'must be an absolute http(s) URL when sender is webhook');
  }

  const g = c.gateway;
  if (g) {
    const secrets = Array.isArray(g.session.secret) ? g.session.secret : [g.session.secret];
    secrets.forEach((s, i) => {
      if (Buffer.byteLength(s) < 32)
        add(Array.isArray(g.session.secret) ? `gateway.session.secret[${i}]` : 'gateway.session.secret', 'must be at least 32 bytes');
    });
    if (g.session.idleTtl > g.session.ttl) add('gateway.session.idleTtl', 'must not exceed gateway.session.ttl');
    if (!g.oidc.issuer && !p) add('gateway.oidc.issuer', 'required when there is no built-in provider');
    const assertionKeys = typeof g.assertionKeys === 'string' ? jsonOrNull(g.assertionKeys) : g.assertionKeys;
    if (g.assertionKeys !== undefined && !privateJwkSet(assertionKeys))
      add('gateway.assertionKeys', 'must be a JWK set whose first key is private (with "d") and has a kid');
    if (g.oidc.issuer && !absoluteHttpUrl(g.oidc.issuer)) add('gateway.oidc.issuer', 'must be an absolute http(s) URL');
    const builtIn = p && (!g.oidc.issuer || g.oidc.issuer.replace(/\/+$/, '') === p.issuer.replace(/\/+$/, ''));
    if (builtIn && !p.clients.some((cl) => cl.clientId === g.oidc.clientId))
      add('gateway.oidc.clientId', `no provider client '${g.oidc.clientId}' in provider.clients`);
    const mount = p && absoluteHttpUrl(p.issuer) ? providerMountPath(p.issuer) : null;
    const names = new Set<string>();
    g.routes.forEach((r, i) => {
      const at = `gateway.routes[${i}]`;
      if (names.has(r.name)) add(`${at}.name`, `duplicate route name '${r.name}'`);
      names.add(r.name);
      const up = absoluteHttpUrl(r.upstream);
      if (!up || up.search || up.hash) add(`${at}.upstream`, 'must be an absolute http(s) URL');
      const prefix = normalizePath(r.match.pathPrefix);
      if (!prefix.ok) add(`${at}.match.pathPrefix`, `must be a plain absolute path (${prefix.reason})`);
      if (prefixesOverlap(r.match.pathPrefix, GATEWAY_PREFIX) && r.match.pathPrefix !== '/')
        add(`${at}.match.pathPrefix`, `must not overlap the gateway's own ${GATEWAY_PREFIX}/ paths`);
      if (p && mount !== null && p.hosts.length === 0 && r.match.pathPrefix !== '/') {
        const reserved = mount ? [mount] : PROVIDER_ROOT_PATHS;
        const hit = reserved.find((m) => prefixesOverlap(r.match.pathPrefix, m));
        if (hit) add(`${at}.match.pathPrefix`, `overlaps the provider mount '${hit}' (set provider.hosts or move the route)`);
      }
      r.publicPaths.forEach((pp, j) => {
        const n = normalizePath(pp);
        if (!n.ok) add(`${at}.publicPaths[${j}]`, `must be a plain absolute path (${n.reason})`);
      });
      for (const name of Object.keys(r.headers)) {
        const problem = headerNameProblem(name);
        if (problem) add(`${at}.headers.${name}`, `header name ${problem}`);
      }
    });
  }
  return problems;
}

function jsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** A JWK set a KeyStore can sign with: keys, the first one private, each with a kid. */
function privateJwkSet(v: unknown): boolean {
  const keys = (v as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) return false;
  const first = keys[0] as { d?: unknown } | null;
  return typeof first?.d === 'string' && keys.every((k) => typeof (k as { kid?: unknown } | null)?.kid === 'string');
}
