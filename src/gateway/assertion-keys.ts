/**
 * Where the keys that sign X-Menshen-Assertion come from. Whoever holds them can tell every
 * upstream who the user is, so they are never in the store in clear (review finding: `gw:jwks`
 * was the private key set as plain JSON, forgeable from a Redis dump alone):
 *
 * - gateway.assertionKeys (a private JWK set, e.g. `${MENSHEN_ASSERTION_JWKS}`): used as is,
 *   nothing stored;
 * - otherwise an ES256 set generated once and kept in the store SEALED (AES-256-GCM, crypto/seal.ts)
 *   under a key derived from gateway.session.secret, so every replica with the same config signs
 *   with the same keys. The first listed secret seals; every listed secret is tried to open, and a
 *   set opened with an older one is re-sealed under the first (rotation, as for cookies). When no
 *   listed secret opens it any more (all rotated away) a new set replaces it: upstreams then see a
 *   new kid at /_menshen/jwks.
 * - a clear set left by an older version under `gw:jwks` is adopted (sealed, then deleted), so an
 *   upgrade keeps the kid upstreams already trust.
 */
import { deriveKey, seal, unseal } from '../crypto/seal.js';
import { KeyStore, generateJwkSet, type JwkSet } from '../crypto/keystore.js';
import type { KvStore } from '../store/store.js';

export const SEALED_KEYS_KEY = 'gw:jwks:sealed';
/** Where versions before sealing kept the set in clear. */
export const LEGACY_CLEAR_KEYS_KEY = 'gw:jwks';
const SEAL_INFO = 'menshen gateway assertion keys v1';
const KEEP_SECONDS = 10 * 365 * 86400;

export interface AssertionKeySource {
  /** gateway.assertionKeys: a JWK set (object or JSON text), or absent. */
  configured: string | JwkSet | undefined;
  /** gateway.session.secret as a list, first = current. */
  secrets: readonly string[];
  kv: KvStore;
  log: { warn(obj: object, msg: string): void };
}

const sealSet = (set: JwkSet, secret: string): string => seal(JSON.stringify(set), deriveKey(secret, SEAL_INFO), SEALED_KEYS_KEY);

/** The set in a sealed box and the index of the secret that opened it, or null. */
function open(box: string, secrets: readonly string[]): { set: JwkSet; by: number } | null {
  for (const [by, secret] of secrets.entries()) {
    const json = unseal(box, deriveKey(secret, SEAL_INFO), SEALED_KEYS_KEY);
    if (json !== null) return { set: JSON.parse(json) as JwkSet, by };
  }
  return null;
}

export async function loadAssertionKeys(src: AssertionKeySource): Promise<KeyStore> {
  if (src.configured) return KeyStore.fromJwks(typeof src.configured === 'string' ? (JSON.parse(src.configured) as JwkSet) : src.configured);
  const { kv, secrets } = src;
  if (secrets.length === 0) throw new Error('gateway.session.secret is required to seal the assertion keys');
  for (let attempt = 0; attempt < 3; attempt++) {
    const box = await kv.get(SEALED_KEYS_KEY);
    if (box === null) {
      const legacy = await kv.get(LEGACY_CLEAR_KEYS_KEY);
      const set = legacy !== null ? (JSON.parse(legacy) as JwkSet) : await generateJwkSet('ES256');
      if (await kv.setIfAbsent(SEALED_KEYS_KEY, sealSet(set, secrets[0]!), KEEP_SECONDS)) {
        if (legacy !== null) await kv.del(LEGACY_CLEAR_KEYS_KEY);
        return KeyStore.fromJwks(set);
      }
      continue; // another replica stored its set first: read that one
    }
    const opened = open(box, secrets);
    if (opened) {
      // Opened with an older secret: re-seal under the current one (a lost race is fine either way).
      if (opened.by > 0) await kv.compareAndSet(SEALED_KEYS_KEY, box, sealSet(opened.set, secrets[0]!), KEEP_SECONDS);
      return KeyStore.fromJwks(opened.set);
    }
    src.log.warn({}, 'no gateway.session.secret opens the stored assertion keys (all rotated away?): generating new ones');
    const fresh = await generateJwkSet('ES256');
    if (await kv.compareAndSet(SEALED_KEYS_KEY, box, sealSet(fresh, secrets[0]!), KEEP_SECONDS)) return KeyStore.fromJwks(fresh);
  }
  throw new Error('the assertion keys could not be loaded: the store kept changing under us');
}
