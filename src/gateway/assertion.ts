/**
 * X-Menshen-Assertion: a short-lived JWT the gateway signs so upstreams can trust identity without
 * trusting the network (DESIGN §4; Pomerium's X-Pomerium-Jwt-Assertion). Claims: iss (the gateway's
 * public URL), aud (route name), sub, email, groups, preferred_username, iat, exp = iat + 60, jti.
 *
 * Hot-path budget (DESIGN §4): a signature costs more CPU than the whole proxy hop (RS256 ~0.25 ms),
 * so each (session, route) keeps its token in a bounded in-process LRU and is re-signed only when
 * less than `refreshWithin` seconds of life remain, or when the identity it carries changed (e.g.
 * groups after a token refresh). Concurrent requests for the same entry share one signature.
 * Verifiable with the key set the gateway publishes at /_menshen/jwks (KeyStore.publicJwks).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { KeyStore } from '../crypto/keystore.js';
import type { Identity } from './policy.js';

export const ASSERTION_TTL_SECONDS = 60;
/** Re-sign when less than this much life is left, so upstreams never receive a token about to lapse. */
export const ASSERTION_REFRESH_WITHIN_SECONDS = 15;
/**
 * LRU bound, ~1 KB per entry. Sized with the session cache (session/store.ts, 1,000 sessions)
 * rather than the session count: a gateway with 100k sessions in Redis, even with every request
 * on another session, stays within a few MB (issue 3's memory goal; bench/RESULTS.md), and an
 * evicted entry costs one ES256 signature (~50 µs) when its session comes back.
 */
export const ASSERTION_CACHE_ENTRIES = 1_000;

export interface AssertionSignerOptions {
  keys: KeyStore;
  /** The gateway's public URL (server.publicUrl). */
  issuer: string;
  ttlSeconds?: number;
  clock: Clock;
  /** LRU bound; memory is roughly 1 KB per entry. */
  maxEntries?: number;
  refreshWithinSeconds?: number;
}

export interface AssertionSigner {
  assertion(sessionKey: string, routeName: string, id: Identity): Promise<string>;
  /** Entries currently cached (for metrics and tests). */
  readonly size: number;
}

interface Entry {
  token: Promise<string>;
  exp: number;
  /** The identity the token was signed for; a different one re-signs. */
  fingerprint: string;
}

/** Fingerprints by identity object: a returning session's Identity is the same frozen object (session.ts). */
const fingerprints = new WeakMap<Identity, string>();

function fingerprintOf(id: Identity): string {
  let f = fingerprints.get(id);
  if (f === undefined) {
    f = JSON.stringify([id.sub, id.email ?? null, id.preferred_username ?? null, id.groups ?? null]);
    fingerprints.set(id, f);
  }
  return f;
}

export function createAssertionSigner(opts: AssertionSignerOptions): AssertionSigner {
  const ttl = opts.ttlSeconds ?? ASSERTION_TTL_SECONDS;
  const refreshWithin = Math.min(opts.refreshWithinSeconds ?? ASSERTION_REFRESH_WITHIN_SECONDS, ttl);
  const maxEntries = Math.max(1, opts.maxEntries ?? ASSERTION_CACHE_ENTRIES);
  // A Map iterates in insertion order: re-inserting on use makes its first key the least recently used.
  const cache = new Map<string, Entry>();

  function sign(routeName: string, id: Identity, iat: number): Promise<string> {
    const claims: Record<string, unknown> = { iss: opts.issuer, aud: routeName, sub: id.sub, iat, exp: iat + ttl, jti: randomUUID() };
    if (id.email !== undefined) claims.email = id.email;
    if (id.groups !== undefined) claims.groups = id.groups;
    if (id.preferred_username !== undefined) claims.preferred_username = id.preferred_username;
    return opts.keys.sign(claims);
  }

  return {
    get size() {
      return cache.size;
    },
    assertion(sessionKey: string, routeName: string, id: Identity): Promise<string> {
      const key = `${routeName}\u0000${sessionKey}`;
      const now = Math.floor(opts.clock.now() / 1000);
      const fingerprint = fingerprintOf(id);
      const hit = cache.get(key);
      if (hit) {
        cache.delete(key);
        if (hit.fingerprint === fingerprint && hit.exp - now >= refreshWithin) {
          cache.set(key, hit);
          return hit.token;
        }
      }
      const entry: Entry = { token: sign(routeName, id, now), exp: now + ttl, fingerprint };
      cache.set(key, entry);
      // A failed signature is not cached: the next request tries again.
      entry.token.catch(() => {
        if (cache.get(key) === entry) cache.delete(key);
      });
      while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
      return entry.token;
    },
  };
}
