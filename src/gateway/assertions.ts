/**
 * The gateway's own ES256 key set (published at /_menshen/jwks) and the X-Menshen-Assertion
 * signer over it (assertion.ts: cached per session and route, re-signed only near expiry).
 * The key set is gateway.assertionKeys, or generated once and kept in the store sealed under the
 * session secret (assertion-keys.ts), so every replica signs with the same keys. It is loaded on
 * first use, not at start, so a store outage at boot does not stop the app from starting; a
 * failed load is retried by the next request.
 */
import type { KeyStore, JwkSet } from '../crypto/keystore.js';
import type { Clock } from '../clock.js';
import type { Identity } from './policy.js';
import { ASSERTION_TTL_SECONDS, createAssertionSigner, type AssertionSigner } from './assertion.js';
import { loadAssertionKeys, type AssertionKeySource } from './assertion-keys.js';

export class Assertions {
  private ready: Promise<{ keys: KeyStore; signer: AssertionSigner }> | undefined;
  /** What `ready` resolved to: the hot path skips awaiting a settled promise. */
  private loaded: { keys: KeyStore; signer: AssertionSigner } | undefined;

  constructor(private readonly opts: { keys: AssertionKeySource; issuer: string; clock: Clock }) {}

  private load(): Promise<{ keys: KeyStore; signer: AssertionSigner }> {
    this.ready ??= loadAssertionKeys(this.opts.keys).then(
      (keys) =>
        (this.loaded = {
          keys,
          signer: createAssertionSigner({ keys, issuer: this.opts.issuer, ttlSeconds: ASSERTION_TTL_SECONDS, clock: this.opts.clock }),
        }),
      (err: unknown) => {
        this.ready = undefined;
        throw err;
      },
    );
    return this.ready;
  }

  /** The X-Menshen-Assertion value for this session (or bearer token) on this route. */
  async assertion(cacheKey: string, routeName: string, identity: Identity): Promise<string> {
    const { signer } = this.loaded ?? (await this.load());
    return signer.assertion(cacheKey, routeName, identity);
  }

  async jwks(): Promise<JwkSet> {
    return (await this.load()).keys.publicJwks;
  }
}
