/**
 * Signing keys as a private JWK set. The first key signs; every key is published in the JWKS and
 * verifies, so a rotated-out key keeps validating its tokens until they expire (put the new key
 * first, drop the old one after the longest token lifetime).
 * Without configured keys, a set is generated once and kept in the store (SET NX), so every replica
 * signs with the same keys.
 */
import { randomUUID } from 'node:crypto';
import { createJwsSigner, type JwsSigner } from './jws.js';
import {
  jwtVerify,
  exportJWK,
  generateKeyPair,
  createLocalJWKSet,
  type JWK,
  type JWTPayload,
  type JWTVerifyOptions,
} from 'jose';
import type { KvStore } from '../store/store.js';

export type SigningAlg = 'RS256' | 'ES256' | 'EdDSA';
export interface JwkSet {
  keys: JWK[];
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] as const;

export async function generateJwkSet(alg: SigningAlg = 'RS256'): Promise<JwkSet> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const jwk = await exportJWK(privateKey);
  return { keys: [{ ...jwk, kid: randomUUID(), alg, use: 'sig' }] };
}

function algOf(jwk: JWK): SigningAlg {
  if (jwk.alg === 'RS256' || jwk.alg === 'ES256' || jwk.alg === 'EdDSA') return jwk.alg as SigningAlg;
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC') return 'ES256';
  if (jwk.kty === 'OKP') return 'EdDSA';
  throw new Error(`unsupported key type ${jwk.kty}`);
}

export class KeyStore {
  private constructor(
    private readonly signer: { jws: JwsSigner; kid: string; alg: SigningAlg },
    readonly publicJwks: JwkSet,
    private readonly verifySet: ReturnType<typeof createLocalJWKSet>,
    readonly algs: SigningAlg[],
  ) {}

  static async fromJwks(set: JwkSet): Promise<KeyStore> {
    if (!set.keys.length) throw new Error('JWK set has no keys');
    const publicKeys: JWK[] = set.keys.map((k) => {
      const pub: JWK = { ...k, alg: algOf(k), use: 'sig' };
      for (const m of PRIVATE_MEMBERS) delete (pub as Record<string, unknown>)[m];
      if (!pub.kid) throw new Error('every key needs a kid');
      return pub;
    });
    const first = set.keys[0]!;
    if (!first.d) throw new Error('the first key must be a private key');
    const alg = algOf(first);
    const jws = createJwsSigner(first, alg, first.kid!);
    const publicJwks = { keys: publicKeys };
    const algs = [...new Set(publicKeys.map((k) => k.alg as SigningAlg))];
    return new KeyStore({ jws, kid: first.kid!, alg }, publicJwks, createLocalJWKSet(publicJwks), algs);
  }

  /** Configured keys, else the set kept in the store, else a new one saved there first-writer-wins. */
  static async load(configured: string | JwkSet | undefined, store: KvStore, alg: SigningAlg, storeKey = 'provider:jwks'): Promise<KeyStore> {
    if (configured) return KeyStore.fromJwks(typeof configured === 'string' ? (JSON.parse(configured) as JwkSet) : configured);
    const existing = await store.get(storeKey);
    if (existing) return KeyStore.fromJwks(JSON.parse(existing) as JwkSet);
    const fresh = await generateJwkSet(alg);
    const won = await store.setIfAbsent(storeKey, JSON.stringify(fresh), 10 * 365 * 86400);
    return KeyStore.fromJwks(won ? fresh : (JSON.parse((await store.get(storeKey))!) as JwkSet));
  }

  get kid(): string {
    return this.signer.kid;
  }

  get alg(): SigningAlg {
    return this.signer.alg;
  }

  /** Signs claims; `typ` goes in the header (e.g. 'JWT', 'logout+jwt'). */
  async sign(claims: JWTPayload, typ = 'JWT'): Promise<string> {
    return this.signer.jws.sign(claims, typ);
  }

  /** Verifies a JWT signed by one of these keys; throws on any problem (alg none included). */
  async verify(token: string, options: JWTVerifyOptions = {}): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, this.verifySet, { algorithms: this.algs, ...options });
    return payload;
  }
}
