/**
 * What the gateway benchmark's menshen process is configured with: the built-in provider as the
 * issuer (in-process back-channel), one confidential client for the gateway, one user, Redis
 * sessions, and one catch-all route to the upstream with auth required, a group rule, an extra
 * identity header from a claim template, and (always on) X-Menshen-Assertion.
 */
import { randomBytes } from 'node:crypto';
import type { JwkSet } from '../../src/crypto/keystore.js';

export const GW_CLIENT_ID = 'gateway';
export const GW_USER = { username: 'alice', email: 'alice@example.com', name: 'Alice Example', groups: ['staff'] };
export const COOKIE_NAME = 'menshen';
export const ROUTE_NAME = 'app';
/** The path every scenario requests. */
export const REQUEST_PATH = '/app/resource?id=42';
export const SESSION_TTL = 28800;
export const IDLE_TTL = 3600;

export interface GatewayServerOptions {
  upstream: string;
  redisUrl: string;
  keyPrefix: string;
  jwks: JwkSet;
  /** >= 32 bytes; the session writer needs the same to read and mint cookies */
  cookieSecret: string;
  clientSecret: string;
  /** scrypt hash of the benchmark user's password */
  passwordHash: string;
}

export function newRunSecrets(): { cookieSecret: string; clientSecret: string } {
  return { cookieSecret: randomBytes(32).toString('base64url'), clientSecret: randomBytes(24).toString('base64url') };
}

export function gatewayConfigObject(o: GatewayServerOptions, port: number): Record<string, unknown> {
  const base = `http://127.0.0.1:${port}`;
  return {
    server: { listen: `127.0.0.1:${port}`, publicUrl: base, watchConfig: false },
    store: { type: 'redis', redis: { url: o.redisUrl, keyPrefix: o.keyPrefix } },
    // warn: no per-request access-log line (the bare proxy logs nothing either); metrics stay on.
    log: { level: 'warn' },
    provider: {
      issuer: `${base}/idp`,
      keys: o.jwks,
      // Long-lived access tokens: no refresh may happen inside a timed run.
      tokens: { accessTtl: 86400, idTtl: 3600 },
      clients: [
        {
          clientId: GW_CLIENT_ID,
          clientSecret: o.clientSecret,
          redirectUris: [`${base}/_menshen/callback`],
          grants: ['authorization_code', 'refresh_token'],
        },
      ],
      users: [{ ...GW_USER, passwordHash: o.passwordHash, mfa: false }],
    },
    gateway: {
      oidc: { clientId: GW_CLIENT_ID, clientSecret: o.clientSecret },
      session: { cookieName: COOKIE_NAME, secret: o.cookieSecret, ttl: SESSION_TTL, idleTtl: IDLE_TTL },
      routes: [
        {
          name: ROUTE_NAME,
          match: { pathPrefix: '/' },
          upstream: o.upstream,
          auth: 'required',
          allow: { groups: ['staff'] },
          headers: { 'X-Remote-User': '{preferred_username}' },
        },
      ],
    },
  };
}
