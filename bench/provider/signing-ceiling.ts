/**
 * The machine's RS256 signing capacity, measured the way both providers sign (jose over WebCrypto,
 * whose RSA work runs on libuv's thread pool), with the fixture's RSA-2048 key and many signatures
 * in flight. Each token response of either server carries two such signatures (access token and
 * id token), so half this rate is a ceiling on token responses per second that no amount of
 * request-handling speed can lift.
 */
import { importJWK, SignJWT } from 'jose';
import type { JwkSet } from '../../src/crypto/keystore.js';

export async function rs256SignaturesPerSecond(jwks: JwkSet, seconds: number, inFlight = 16): Promise<number> {
  const jwk = jwks.keys[0]!;
  const key = await importJWK(jwk, 'RS256');
  const claims = { sub: 'bench', aud: 'bench-client', scope: 'openid profile email offline_access' };
  let done = 0;
  const until = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < until) {
      await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid! }).setIssuedAt().setExpirationTime('1h').sign(key);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  return done / ((performance.now() - t0) / 1000);
}
