/**
 * Scopes the provider grants and the user claims each releases (OIDC Core §5.4), plus `groups`,
 * which the gateway's group policy reads: released with `profile` or with the `groups` scope.
 */
import type { Client } from './clients.js';
import type { User } from './directory.js';

export const OIDC_SCOPES = ['openid', 'profile', 'email', 'phone', 'groups', 'offline_access'] as const;

export const CLAIMS_SUPPORTED = [
  'sub',
  'iss',
  'aud',
  'azp',
  'exp',
  'iat',
  'auth_time',
  'nonce',
  'sid',
  'at_hash',
  'amr',
  'preferred_username',
  'name',
  'nickname',
  'email',
  'phone_number',
  'groups',
];

/** Splits a scope parameter (RFC 6749 §3.3: space-delimited, order irrelevant, no duplicates). */
export function parseScope(raw: string | undefined): string[] {
  return raw ? [...new Set(raw.split(' ').filter(Boolean))] : [];
}

/** The requested scopes this client may have; unknown ones are dropped (OIDC Core §3.1.2.1). */
export function grantableScopes(client: Client, requested: readonly string[]): string[] {
  const allowed = new Set<string>([...OIDC_SCOPES, ...client.scopes]);
  return requested.filter((s) => allowed.has(s));
}

export type Claims = Record<string, string | readonly string[]>;

/** The user's claims released by these scopes (id token and userinfo). */
export function userClaims(user: User, scope: readonly string[]): Claims {
  const has = (s: string) => scope.includes(s);
  const c: Claims = {};
  if (has('profile')) {
    c.preferred_username = user.username;
    if (user.name !== undefined) c.name = user.name;
    if (user.nickname !== undefined) c.nickname = user.nickname;
  }
  if (has('email') && user.email !== undefined) c.email = user.email;
  if (has('phone') && user.phone !== undefined) c.phone_number = user.phone;
  if (has('profile') || has('groups')) c.groups = [...user.groups];
  return c;
}
