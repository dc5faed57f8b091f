/**
 * src/crypto/secrets.ts: handles and IVs come from a pooled CSPRNG; every byte is handed out once,
 * across refills of the pool, and a buffer given out stays its caller's when the pool refills.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { hashHandle, randomBuffer, randomHandle, randomHex32, safeEqual } from '../../src/crypto/secrets.js';

t.test('handles: the asked entropy, URL-safe, never repeated across many pool refills', async (t) => {
  const seen = new Set<string>();
  // 20,000 × 32 bytes = 156 refills of the 4 KiB pool
  for (let i = 0; i < 20_000; i++) seen.add(randomHandle());
  t.equal(seen.size, 20_000, 'no handle twice');
  for (const h of [...seen].slice(0, 50)) t.match(h, /^[A-Za-z0-9_-]{43}$/, '32 bytes base64url');
  t.equal(Buffer.from(randomHandle(16), 'base64url').length, 16, '16 bytes when asked');
  t.equal(Buffer.from(randomHandle(5000), 'base64url').length, 5000, 'more than the pool: still random, full length');
});

t.test('no two draws share bytes: consecutive draws differ in every 16-byte window', async (t) => {
  const a = Buffer.from(randomHandle(4090), 'base64url'); // leaves 6 bytes: the next draw refills
  const b = randomBuffer(12);
  const c = randomBuffer(12);
  t.notOk(a.includes(b), 'the refill does not hand out earlier bytes');
  t.notSame(b, c, 'two IVs differ');
});

t.test('randomBuffer: a copy of its own, unchanged when the pool refills', async (t) => {
  const iv = randomBuffer(12);
  const copy = Buffer.from(iv);
  for (let i = 0; i < 300; i++) randomHandle(); // several refills
  t.same(iv, copy, 'the IV did not change under the caller');
  t.equal(iv.length, 12);
  t.equal(randomBuffer(8192).length, 8192, 'larger than the pool');
});

t.test('randomHex32: the EIAM opaque shape, distinct', async (t) => {
  const a = randomHex32();
  t.match(a, /^[0-9a-f]{32}$/);
  t.not(a, randomHex32());
});

t.test('hashHandle is SHA-256 base64url; safeEqual compares by value', async (t) => {
  t.equal(hashHandle('abc'), createHash('sha256').update('abc').digest('base64url'));
  t.ok(safeEqual('secret-value', 'secret-value'));
  t.notOk(safeEqual('secret-value', 'secret-valuf'));
  t.notOk(safeEqual('short', 'a much longer value'));
});
