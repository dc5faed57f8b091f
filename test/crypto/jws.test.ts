/**
 * The node:crypto JWS signer (src/crypto/jws.ts) makes tokens that jose, the verifier every
 * relying party here uses, accepts for each signing algorithm menshen offers, with the header
 * menshen promises (alg, kid, typ); and a KeyStore refuses what its keys did not sign.
 */
import t from 'tap';
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { generateJwkSet, KeyStore, type SigningAlg } from '../../src/crypto/keystore.js';

for (const alg of ['RS256', 'ES256', 'EdDSA'] as SigningAlg[]) {
  t.test(`${alg}: jose verifies what menshen signs`, async (t) => {
    const set = await generateJwkSet(alg);
    const keys = await KeyStore.fromJwks(set);
    const claims = { iss: 'https://idp.example', sub: 'u-1', aud: 'client', iat: 1_700_000_000, exp: 4_000_000_000, 名: '张三' };
    const token = await keys.sign(claims, 'at+jwt');
    t.same(decodeProtectedHeader(token), { alg, kid: set.keys[0]!.kid, typ: 'at+jwt' }, 'header: alg, kid, typ');
    const { payload } = await jwtVerify(token, createLocalJWKSet(keys.publicJwks), { algorithms: [alg], typ: 'at+jwt' });
    t.same(payload, claims, 'claims round-trip, non-ASCII included');
    t.same(await keys.verify(token, { typ: 'at+jwt' }), claims, 'and through the KeyStore');

    const other = await KeyStore.fromJwks(await generateJwkSet(alg));
    await t.rejects(other.verify(token), 'another key set refuses it');
    const [h, p, s] = token.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url')}.${s}`;
    await t.rejects(keys.verify(tampered), 'a changed payload fails verification');
    await t.rejects(compactVerify(`${h}.${p}.`, createLocalJWKSet(keys.publicJwks)), 'an empty signature fails');
  });
}

t.test('signatures differ per call only where the algorithm is randomized', async (t) => {
  const rsa = await KeyStore.fromJwks(await generateJwkSet('RS256'));
  const claims = { sub: 'x', iat: 1 };
  t.equal(await rsa.sign(claims), await rsa.sign(claims), 'RS256 (PKCS#1 v1.5) is deterministic');
  const ec = await KeyStore.fromJwks(await generateJwkSet('ES256'));
  const [a, b] = [await ec.sign(claims), await ec.sign(claims)];
  t.not(a, b, 'ES256 signatures carry a fresh nonce');
  t.equal(a.split('.')[2]!.length, 86, 'ES256 signature is r||s (64 bytes), not DER');
});

t.test('an invalid private key is refused when the key set is loaded', async (t) => {
  const set = await generateJwkSet('RS256');
  const { p: _p, ...withoutPrime } = set.keys[0]!;
  await t.rejects(KeyStore.fromJwks({ keys: [withoutPrime] }), 'an RSA private key missing a member');
  await t.rejects(KeyStore.fromJwks({ keys: [{ ...set.keys[0]!, kty: 'EC' }] }), 'members of another key type');
});

t.test('a key that cannot make its algorithm\'s signatures is refused at load, as jose did', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto');
  const jwkOf = (type: 'rsa' | 'ec' | 'ed448', opts: object, alg: string) => {
    const { privateKey } = generateKeyPairSync(type as 'rsa', opts as { modulusLength: number });
    return { ...privateKey.export({ format: 'jwk' }), kid: `k-${alg}`, alg };
  };
  await t.rejects(KeyStore.fromJwks({ keys: [jwkOf('rsa', { modulusLength: 1024 }, 'RS256')] }), /RS256 needs an RSA key of at least 2048 bits \(got rsa 1024\)/);
  await t.rejects(KeyStore.fromJwks({ keys: [jwkOf('ec', { namedCurve: 'P-384' }, 'ES256')] }), /ES256 needs a P-256 key \(got ec secp384r1\)/);
  await t.rejects(KeyStore.fromJwks({ keys: [jwkOf('ec', { namedCurve: 'P-256' }, 'RS256')] }), /RS256 needs an RSA key/);
  await t.rejects(KeyStore.fromJwks({ keys: [jwkOf('ed448', {}, 'EdDSA')] }), /EdDSA needs an Ed25519 key \(got ed448\)/);
});

t.test('claims that cannot be serialized reject; nothing throws at the caller', async (t) => {
  const keys = await KeyStore.fromJwks(await generateJwkSet('ES256'));
  let promise: Promise<string> | undefined;
  t.doesNotThrow(() => {
    promise = keys.sign({ n: 10n } as never);
  });
  await t.rejects(promise!, TypeError);
});
