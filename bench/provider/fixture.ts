/**
 * The one client, user and request both providers are configured with, so that the two token
 * endpoints do the same work: a confidential client authenticated by client_secret_basic, the
 * authorization code with PKCE S256 (as the gateway sends it), scope openid profile email
 * offline_access, RS256 JWT (or, in the second configuration, opaque) access tokens, RS256 id
 * tokens, opaque refresh tokens rotated on every use, one shared RSA-2048 signing key,
 * everything in process memory.
 */
import { createHash } from 'node:crypto';

export const CLIENT_ID = 'bench-client';
/** Not a secret anyone uses: a fixed client credential of the throwaway benchmark servers. */
export const CLIENT_SECRET = 'bench-client-credential-0123456789';
/** Never requested: the token endpoint only compares it. */
export const REDIRECT_URI = 'http://127.0.0.1/bench/callback';
export const SCOPE = ['openid', 'profile', 'email', 'offline_access'] as const;
export const USER = {
  username: 'alice',
  email: 'alice@example.com',
  name: 'Alice Example',
  groups: ['staff'],
} as const;

export const PKCE_VERIFIER = 'bench-pkce-verifier-0123456789-abcdefghijklmnopqrstuvwxyz';
export const PKCE_CHALLENGE = createHash('sha256').update(PKCE_VERIFIER).digest('base64url');

/** Lifetimes long enough that nothing expires during a run. */
export const ACCESS_TTL = 3600;
export const REFRESH_TTL = 30 * 86400;

export const basicAuth = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`;

export type GrantKind = 'authorization_code' | 'refresh_token';

/**
 * The access token both servers issue: `jwt` (RS256, so every response carries two signatures:
 * access and id token) or `opaque` (a random handle with a stored record, as oidc-provider issues
 * by default and menshen's `accessTokenFormat: opaque` does: one signature, the id token's).
 */
export type AccessTokenFormat = 'jwt' | 'opaque';

/** Options every provider benchmark child takes. */
export interface ProviderServerOptions {
  jwks: import('../../src/crypto/keystore.js').JwkSet;
  accessTokenFormat: AccessTokenFormat;
}

/** The form body of one token request. */
export function tokenRequestBody(grant: GrantKind, handle: string): string {
  const p: Record<string, string> =
    grant === 'authorization_code'
      ? { grant_type: grant, code: handle, redirect_uri: REDIRECT_URI, code_verifier: PKCE_VERIFIER }
      : { grant_type: grant, refresh_token: handle };
  return new URLSearchParams(p).toString();
}

/** What a server child answers to `mint`: one-time handles for the timed run. */
export interface MintArgs {
  grant: GrantKind;
  count: number;
}

export interface ProviderReady {
  url: string;
  /** absolute URL of the token endpoint */
  tokenEndpoint: string;
  /** what is being compared, for the report */
  label: string;
  [k: string]: unknown;
}
