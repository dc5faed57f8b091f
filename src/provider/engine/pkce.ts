/**
 * PKCE (RFC 7636) with the Tencent variants of protocols.md §5.2: CIAM accepts S256 only; EIAM
 * accepts SM3 (the verifier's SM3 digest as base64url without padding, or as lowercase hex) and S256.
 * `plain` is never accepted.
 */
import crypto, { createHash, timingSafeEqual } from 'node:crypto';
import { ProviderError, invalid } from './errors.js';

export type PkceMethod = 'S256' | 'SM3';

/** RFC 7636 §4.1: 43..128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
/** A challenge is a digest: base64url (43 chars) or, for SM3, hex (64 chars). */
const CHALLENGE = /^[A-Za-z0-9._~-]{43,128}$/;

/**
 * Whether this Node's OpenSSL has SM3 (a build without it, or FIPS mode, has not): without it EIAM's
 * SM3 PKCE is refused with a 400 (never a 500 from createHash) and discovery offers S256 only.
 */
export function sm3Available(): boolean {
  return crypto.getHashes().some((h) => h.toLowerCase() === 'sm3');
}

const SM3_UNAVAILABLE = 'code_challenge_method SM3 is not available on this server (node:crypto has no sm3); use S256';

/** The methods a dialect offers that this server can compute (discovery's list). */
export function availablePkceMethods(offered: readonly PkceMethod[]): PkceMethod[] {
  return offered.filter((m) => m !== 'SM3' || sm3Available());
}

export function checkChallenge(challenge: string, method: string | undefined, allowed: readonly PkceMethod[]): PkceMethod {
  // RFC 7636 §4.3: an absent method means plain, which we never accept.
  const m = method ?? 'plain';
  if (!(allowed as readonly string[]).includes(m))
    throw invalid('code_challenge_method', `code_challenge_method must be ${allowed.join(' or ')}`);
  if (m === 'SM3' && !sm3Available()) throw invalid('code_challenge_method', SM3_UNAVAILABLE);
  if (!CHALLENGE.test(challenge)) throw invalid('code_challenge', 'invalid code_challenge');
  return m as PkceMethod;
}

function digest(method: PkceMethod, verifier: string): Buffer {
  return createHash(method === 'SM3' ? 'sm3' : 'sha256').update(verifier, 'ascii').digest();
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function verifyPkce(challenge: string, method: PkceMethod, verifier: string | undefined): void {
  if (verifier === undefined) throw new ProviderError('invalid_code_verifier', 'code_verifier required', { param: 'code_verifier' });
  if (!VERIFIER.test(verifier)) throw new ProviderError('invalid_code_verifier', 'invalid code_verifier', { param: 'code_verifier' });
  // A code from a replica that had SM3, redeemed on one that has not.
  if (method === 'SM3' && !sm3Available()) throw invalid('code_verifier', SM3_UNAVAILABLE);
  const d = digest(method, verifier);
  const ok = equal(d.toString('base64url'), challenge) || (method === 'SM3' && equal(d.toString('hex'), challenge));
  if (!ok) throw new ProviderError('invalid_code_verifier', 'code_verifier does not match code_challenge', { param: 'code_verifier' });
}
