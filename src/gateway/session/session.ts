/**
 * What a gateway session holds (sealed in the store) and the identity derived from it.
 * Kept small on purpose (goal ≤ 3 KB in Redis): tokens, the identity claims the routes may use,
 * and the expiries. Short member names because every byte is stored once per session.
 */
import type { Identity } from '../policy.js';

export interface SessionData {
  v: 1;
  /** Identity claims from the id token (protocol claims such as nonce, at_hash, aud removed). */
  claims: Record<string, unknown>;
  /** The provider's session id (`sid` claim): back-channel logout ends sessions by it. */
  psid?: string;
  /** Access token and its expiry (epoch seconds). */
  at?: string;
  atExp?: number;
  /** Refresh token. */
  rt?: string;
  /** The id token, kept for RP-initiated logout's id_token_hint. */
  idt?: string;
  /** Absolute expiry, epoch seconds: no refresh extends it. */
  exp: number;
  /** When this value was last written, epoch seconds. */
  w: number;
}

/** A session as loaded through its cookie ticket. */
export interface Session {
  id: string;
  secret: string;
  data: SessionData;
}

/** JWT/OIDC protocol claims that say nothing about the user; never stored in the session. */
// at_key: the built-in provider's pointer to the access token issued with an id token.
const PROTOCOL_CLAIMS = new Set(['iss', 'aud', 'exp', 'iat', 'nbf', 'nonce', 'at_hash', 'at_key', 'c_hash', 's_hash', 'azp', 'jti', 'sid', 'typ', 'cnf', 'events']);

/** The identity claims of an id token or a verified bearer JWT. */
export function identityClaims(claims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(claims)) if (!PROTOCOL_CLAIMS.has(k)) out[k] = v;
  return out;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** `groups` as issuers send it: an array of strings, or one space/comma separated string. */
function groupsOf(v: unknown): string[] | undefined {
  if (Array.isArray(v)) return v.filter((g): g is string => typeof g === 'string');
  if (typeof v === 'string') return v.split(/[\s,]+/).filter(Boolean);
  return undefined;
}

/**
 * Whether the issuer says the email address is verified: `email_verified` true, or the string
 * "true" that some IdPs send (OIDC Core §5.1 defines a boolean). Anything else, absence included,
 * is unverified.
 */
export function emailVerified(claims: Record<string, unknown>): boolean {
  const v = claims.email_verified;
  return v === true || v === 'true';
}

/** How identities are derived from claims (gateway config, fixed at start). */
export interface IdentityOptions {
  /**
   * gateway.oidc.insecureAllowUnverifiedEmail: take `email` without `email_verified`. Off: an
   * unverified email is absent from the identity (policy, headers, templates, assertion, claims).
   */
  allowUnverifiedEmail: boolean;
}

const VERIFIED_ONLY: IdentityOptions = Object.freeze({ allowUnverifiedEmail: false });

/**
 * Identities already derived, by claims object, one map per email setting. A session served from
 * the unsealed cache keeps its claims object from request to request (store.ts), so its identity,
 * and what access.ts and assertion.ts derive from that identity, is built once. Claims objects are
 * never changed once parsed (a refresh replaces the whole object), and the identity is frozen, so
 * sharing is safe.
 */
const identitiesVerifiedOnly = new WeakMap<Record<string, unknown>, Identity>();
const identitiesAnyEmail = new WeakMap<Record<string, unknown>, Identity>();

/**
 * The identity of a claims set: one frozen object per claims object and setting. An `email` the
 * issuer does not mark verified (emailVerified) is dropped, from `email` and from `claims` alike,
 * unless opts.allowUnverifiedEmail: an issuer that lets anyone register could otherwise hand out
 * victim@corp.com to whoever claims it, and email policy and headers would trust it (oauth2-proxy
 * refuses unverified emails by default too).
 */
export function identityFromClaims(claims: Record<string, unknown>, opts: IdentityOptions = VERIFIED_ONLY): Identity {
  const cache = opts.allowUnverifiedEmail ? identitiesAnyEmail : identitiesVerifiedOnly;
  const known = cache.get(claims);
  if (known) return known;
  const trustEmail = opts.allowUnverifiedEmail || emailVerified(claims);
  let visible = claims;
  if (!trustEmail && Object.hasOwn(claims, 'email')) {
    const { email: _unverified, ...rest } = claims;
    visible = rest;
  }
  const groups = groupsOf(claims.groups);
  const preferred = str(claims.preferred_username);
  const email = trustEmail ? str(claims.email) : undefined;
  const identity: Identity = Object.freeze({
    sub: String(claims.sub),
    ...(preferred !== undefined ? { preferred_username: preferred } : {}),
    ...(email !== undefined ? { email } : {}),
    ...(groups !== undefined ? { groups: Object.freeze(groups) as string[] } : {}),
    claims: visible,
  });
  cache.set(claims, identity);
  return identity;
}
