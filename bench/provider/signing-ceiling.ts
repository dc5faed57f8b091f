/**
 * The machine's RS256 signing capacity with the fixture's RSA-2048 key and many signatures in
 * flight, measured on the cheapest path Node offers: node:crypto's one-shot sign in its callback
 * form (OpenSSL on libuv's thread pool), which is how menshen signs; oidc-provider signs through
 * jose over WebCrypto, the same OpenSSL work with more per-call overhead. Each token response of
 * either server carries one or two such signatures, so this rate divided by that number is a
 * ceiling on token responses per second that no amount of request-handling speed can lift.
 */
import { createPrivateKey, sign } from 'node:crypto';
import type { JwkSet } from '../../src/crypto/keystore.js';

export async function rs256SignaturesPerSecond(jwks: JwkSet, seconds: number, inFlight = 16): Promise<number> {
  const key = createPrivateKey({ key: jwks.keys[0]! as import('node:crypto').JsonWebKey, format: 'jwk' });
  // A token-sized signing input: header.payload of a typical access token.
  const input = Buffer.from(`${'h'.repeat(60)}.${'p'.repeat(420)}`);
  let done = 0;
  const until = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < until) {
      await new Promise<void>((resolve, reject) => sign('sha256', input, key, (err) => (err ? reject(err) : resolve())));
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  return done / ((performance.now() - t0) / 1000);
}
