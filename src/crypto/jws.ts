/**
 * JWS compact signing (RFC 7515) straight on node:crypto, for the tokens menshen issues: every
 * token response signs one or two JWTs, so this is the provider's hot path. jose's SignJWT goes
 * through WebCrypto, whose per-call algorithm normalization, key checks and job dispatch cost
 * ~60-90 µs of CPU per response on top of the RSA work itself (bench/RESULTS.md). Verification
 * stays with jose (keystore.ts): it is what rejects `alg: none`, wrong keys and bad claims.
 *
 * The claims are menshen's own (never a caller's JSON), so nothing here validates them; the
 * header is fixed per `typ` and encoded once.
 */
import { createPrivateKey, sign as cryptoSign, type KeyObject, type SignKeyObjectInput } from 'node:crypto';
import type { JWK } from 'jose';
import type { SigningAlg } from './keystore.js';

export interface JwsSigner {
  sign(claims: Record<string, unknown>, typ: string): Promise<string>;
}

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** Thrown at load for a key that cannot make `alg` signatures relying parties accept. */
export class UnsuitableKeyError extends Error {
  constructor(kid: string, detail: string) {
    super(`signing key ${kid}: ${detail}`);
    this.name = 'UnsuitableKeyError';
  }
}

/**
 * The key fits the algorithm: RS256 an RSA key of at least 2048 bits (RFC 7518 §3.3; jose refuses
 * less), ES256 a P-256 key (another curve would make signatures of another length), EdDSA an
 * Ed25519 key (what menshen publishes). jose's importJWK checked this before; node:crypto does not.
 */
function checkKey(key: KeyObject, alg: SigningAlg, kid: string): void {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (alg === 'RS256' && (type !== 'rsa' || (details.modulusLength ?? 0) < 2048))
    throw new UnsuitableKeyError(kid, `RS256 needs an RSA key of at least 2048 bits (got ${type}${details.modulusLength ? ` ${details.modulusLength}` : ''})`);
  if (alg === 'ES256' && (type !== 'ec' || details.namedCurve !== 'prime256v1'))
    throw new UnsuitableKeyError(kid, `ES256 needs a P-256 key (got ${type}${details.namedCurve ? ` ${details.namedCurve}` : ''})`);
  if (alg === 'EdDSA' && type !== 'ed25519') throw new UnsuitableKeyError(kid, `EdDSA needs an Ed25519 key (got ${type})`);
}

export function createJwsSigner(jwk: JWK, alg: SigningAlg, kid: string): JwsSigner {
  const key: KeyObject = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  checkKey(key, alg, kid);
  // RS256: PKCS#1 v1.5 over SHA-256. ES256: the JWS form of an ECDSA signature is r || s
  // (IEEE P1363), not DER. EdDSA: Ed25519 hashes internally (digest null).
  const digest = alg === 'EdDSA' ? null : 'sha256';
  const signingKey: KeyObject | SignKeyObjectInput = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key;
  const headers = new Map<string, string>();
  const headerFor = (typ: string): string => {
    let h = headers.get(typ);
    if (h === undefined) {
      h = b64url(JSON.stringify({ alg, kid, typ }));
      headers.set(typ, h);
    }
    return h;
  };
  return {
    // async: claims that cannot be serialized reject, never throw at the caller
    async sign(claims, typ) {
      const input = `${headerFor(typ)}.${b64url(JSON.stringify(claims))}`;
      // The callback form runs on libuv's thread pool: an RSA signature (~0.25 ms) does not
      // hold up the event loop, and two cores sign in parallel.
      return new Promise((resolve, reject) => {
        cryptoSign(digest, Buffer.from(input), signingKey, (err, signature) => {
          if (err) reject(err);
          else resolve(`${input}.${signature.toString('base64url')}`);
        });
      });
    },
  };
}
