/** The assertion signer with a ManualClock: claims, caching per (session, route), re-signing, LRU bound. */
import t from 'tap';
import { decodeProtectedHeader, decodeJwt } from 'jose';
import { ManualClock } from '../../src/clock.js';
import { KeyStore, generateJwkSet } from '../../src/crypto/keystore.js';
import { createAssertionSigner } from '../../src/gateway/assertion.js';
import type { Identity } from '../../src/gateway/policy.js';

const ISSUER = 'https://gw.example.com';
const alice: Identity = {
  sub: 'u-alice',
  preferred_username: 'alice',
  email: 'alice@example.com',
  groups: ['staff'],
  claims: { department: 'sales' },
};

const keys = await KeyStore.fromJwks(await generateJwkSet('ES256'));

/** A KeyStore that counts its signatures, to prove what the cache saves. */
function counting(ks: KeyStore): { keys: KeyStore; count: () => number } {
  let n = 0;
  const wrapped = Object.create(ks) as KeyStore;
  wrapped.sign = (claims, typ) => {
    n++;
    return ks.sign(claims, typ);
  };
  return { keys: wrapped, count: () => n };
}

t.test('claims: iss, aud = route, identity, 60 s life, jti; verifiable with the published keys', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const signer = createAssertionSigner({ keys, issuer: ISSUER, clock });
  const token = await signer.assertion('sess-1', 'legacy-crm', alice);
  const header = decodeProtectedHeader(token);
  t.equal(header.alg, 'ES256');
  t.equal(header.kid, keys.kid);
  const payload = await keys.verify(token, { issuer: ISSUER, audience: 'legacy-crm', currentDate: new Date(clock.now()) });
  t.equal(payload.sub, 'u-alice');
  t.equal(payload.email, 'alice@example.com');
  t.same(payload.groups, ['staff']);
  t.equal(payload.preferred_username, 'alice');
  t.equal(payload.iat, 1_700_000_000);
  t.equal(payload.exp, 1_700_000_060);
  t.match(payload.jti, /^[0-9a-f-]{36}$/);
  t.notOk('department' in payload, 'only the documented claims travel');
  await t.rejects(keys.verify(token, { issuer: ISSUER, audience: 'other-route', currentDate: new Date(clock.now()) }), 'another route is another audience');
});

t.test('absent identity fields are absent claims', async (t) => {
  const signer = createAssertionSigner({ keys, issuer: ISSUER, clock: new ManualClock() });
  const payload = decodeJwt(await signer.assertion('s', 'r', { sub: 'u-bob', claims: {} }));
  t.same(Object.keys(payload).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'sub']);
});

t.test('cached per (session, route); re-signed only with less than 15 s left', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const c = counting(keys);
  const signer = createAssertionSigner({ keys: c.keys, issuer: ISSUER, clock });
  const first = await signer.assertion('sess-1', 'crm', alice);
  t.equal(c.count(), 1);
  clock.advance(45_000); // exactly 15 s left: still good
  t.equal(await signer.assertion('sess-1', 'crm', alice), first, 'same token while 15 s or more remain');
  t.equal(c.count(), 1, 'no new signature');
  clock.advance(1_000); // 14 s left
  const second = await signer.assertion('sess-1', 'crm', alice);
  t.not(second, first, 're-signed near expiry');
  t.equal(c.count(), 2);
  t.equal(decodeJwt(second).iat, 1_700_000_046);
  t.not(decodeJwt(second).jti, decodeJwt(first).jti);
  t.equal(await signer.assertion('sess-1', 'crm', alice), second, 'and cached again');

  const otherRoute = await signer.assertion('sess-1', 'wiki', alice);
  const otherSession = await signer.assertion('sess-2', 'crm', alice);
  t.equal(c.count(), 4, 'another route or session is another entry');
  t.equal(decodeJwt(otherRoute).aud, 'wiki');
  t.not(otherSession, second);
  t.equal(signer.size, 3);
});

t.test('a changed identity is re-signed at once', async (t) => {
  const clock = new ManualClock();
  const signer = createAssertionSigner({ keys, issuer: ISSUER, clock });
  const before = await signer.assertion('s', 'r', alice);
  const after = await signer.assertion('s', 'r', { ...alice, groups: ['staff', 'admins'] });
  t.not(after, before);
  t.same(decodeJwt(after).groups, ['staff', 'admins']);
  t.equal(await signer.assertion('s', 'r', { ...alice, groups: ['staff', 'admins'], claims: { other: 1 } }), after, 'claims outside the token do not matter');
});

t.test('concurrent requests share one signature', async (t) => {
  const c = counting(keys);
  const signer = createAssertionSigner({ keys: c.keys, issuer: ISSUER, clock: new ManualClock() });
  const tokens = await Promise.all(Array.from({ length: 20 }, () => signer.assertion('s', 'r', alice)));
  t.equal(new Set(tokens).size, 1);
  t.equal(c.count(), 1);
});

t.test('the cache is bounded and evicts the least recently used', async (t) => {
  const c = counting(keys);
  const signer = createAssertionSigner({ keys: c.keys, issuer: ISSUER, clock: new ManualClock(), maxEntries: 3 });
  const a = await signer.assertion('a', 'r', alice);
  await signer.assertion('b', 'r', alice);
  await signer.assertion('c', 'r', alice);
  t.equal(await signer.assertion('a', 'r', alice), a, "'a' used again: now the most recent");
  await signer.assertion('d', 'r', alice); // evicts 'b'
  t.equal(signer.size, 3);
  t.equal(c.count(), 4);
  t.equal(await signer.assertion('a', 'r', alice), a, "'a' survived");
  t.equal(c.count(), 4);
  await signer.assertion('b', 'r', alice);
  t.equal(c.count(), 5, "'b' was evicted and is signed again");
});

t.test('a failed signature is not cached', async (t) => {
  let fail = true;
  const flaky = Object.create(keys) as KeyStore;
  flaky.sign = (claims, typ) => (fail ? Promise.reject(new Error('hsm down')) : keys.sign(claims, typ));
  const signer = createAssertionSigner({ keys: flaky, issuer: ISSUER, clock: new ManualClock() });
  await t.rejects(signer.assertion('s', 'r', alice), /hsm down/);
  t.equal(signer.size, 0);
  fail = false;
  t.type(await signer.assertion('s', 'r', alice), 'string');
});

t.test('ttlSeconds is honoured', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const signer = createAssertionSigner({ keys, issuer: ISSUER, clock, ttlSeconds: 30 });
  const first = await signer.assertion('s', 'r', alice);
  t.equal(decodeJwt(first).exp, 1_700_000_030);
  clock.advance(16_000);
  t.not(await signer.assertion('s', 'r', alice), first, 're-signed with 14 s of 30 left');
});
