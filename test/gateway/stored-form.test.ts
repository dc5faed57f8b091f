/**
 * The stored form of a session (src/gateway/session/stored-form.ts): tokens go in with their header
 * and payload decoded (so deflate sees what they repeat) and come out as the very same strings;
 * anything that would not come back byte for byte stays a string; values sealed before the format
 * existed still load; and it makes a real session smaller in the store.
 */
import t from 'tap';
import { SignJWT, generateKeyPair } from 'jose';
import { deflateRawSync } from 'node:zlib';
import { packJwt, unpackJwt, toStored, fromStored } from '../../src/gateway/session/stored-form.js';
import { SessionStore } from '../../src/gateway/session/store.js';
import { MemoryStore } from '../../src/store/memory.js';
import { sealJson } from '../../src/gateway/session/sealed-json.js';
import { deriveKey } from '../../src/crypto/seal.js';
import type { SessionData } from '../../src/gateway/session/session.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');

t.test('packJwt / unpackJwt round trips, and refuses what would not come back exactly', async (t) => {
  const { privateKey } = await generateKeyPair('RS256');
  const jwt = await new SignJWT({ sub: 'u-1', name: '张三', groups: ['staff'], n: 1.5, big: 12345678901234 })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: 'k1' })
    .setIssuer('https://idp.example')
    .sign(privateKey);
  const packed = packJwt(jwt);
  t.ok(Array.isArray(packed), 'a jose token packs');
  t.same((packed as unknown[])[1], { sub: 'u-1', name: '张三', groups: ['staff'], n: 1.5, big: 12345678901234, iss: 'https://idp.example' });
  t.equal(unpackJwt(packed), jwt, 'and unpacks to the same string');

  const sig = jwt.split('.')[2]!;
  const keptAsIs = [
    ['not three parts', 'a.b'],
    ['whitespace in the payload JSON', `${b64('{"alg":"RS256"}')}.${b64('{ "sub": "x" }')}.${sig}`],
    ['a number JSON would rewrite', `${b64('{"alg":"RS256"}')}.${b64('{"n":1.0}')}.${sig}`],
    ['a number beyond 2^53', `${b64('{"alg":"RS256"}')}.${b64('{"n":12345678901234567890}')}.${sig}`],
    ['a unicode escape', `${b64('{"alg":"RS256"}')}.${b64('{"n":"\\u00e9"}')}.${sig}`],
    ['a 4-byte UTF-8 sequence cut after 3 bytes (one U+FFFD, itself 3 bytes)', `${b64('{"alg":"RS256"}')}.${b64(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xf0, 0x90, 0x80, 0x22, 0x7d]))}.${sig}`],
    ['invalid UTF-8', `${b64('{"alg":"RS256"}')}.${b64(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]))}.${sig}`],
    ['non-canonical base64url (padding)', `${b64('{"alg":"RS256"}')}=.${b64('{"sub":"x"}')}.${sig}`],
    ['a payload that is not an object', `${b64('{"alg":"RS256"}')}.${b64('["x"]')}.${sig}`],
    ['not JSON at all', `${b64('{"alg":"RS256"}')}.${b64('hello')}.${sig}`],
    ['an opaque token', 'e3b0c44298fc1c149afbf4c8996fb924'],
  ];
  for (const [why, token] of keptAsIs) {
    t.equal(packJwt(token!), token, `kept as a string: ${why}`);
    t.equal(unpackJwt(packJwt(token!)), token, `and read back: ${why}`);
  }
  t.equal(unpackJwt(['x', {}, 's']), undefined, 'a malformed stored member is no token');
  t.equal(unpackJwt(42), undefined);
});

t.test('toStored / fromStored', async (t) => {
  const { privateKey } = await generateKeyPair('RS256');
  const mk = (typ: string, claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ, kid: 'k1' }).setIssuer('https://idp.example').setSubject('u-alice').setAudience('gateway').sign(privateKey);
  const data: SessionData = {
    v: 1,
    claims: { sub: 'u-alice', preferred_username: 'alice', email: 'alice@example.com', email_verified: true, groups: ['staff'] },
    psid: 'sid-1',
    at: await mk('at+jwt', { client_id: 'gateway', scope: 'openid profile email' }),
    atExp: 2_000_000_000,
    rt: 'opaque-refresh-token',
    idt: await mk('JWT', { preferred_username: 'alice', email: 'alice@example.com', email_verified: true, groups: ['staff'], name: 'Alice Example' }),
    exp: 2_000_000_000,
    w: 1_900_000_000,
  };
  const stored = toStored(data);
  t.equal((stored as { v: number }).v, 2, 'a value with a packed token is version 2: older replicas see no session, not a broken token');
  t.equal((toStored({ ...data, at: 'opaque', idt: 'not.a.jwt' }) as { v: number }).v, 1, 'nothing packed: version 1, readable by every version');
  t.same(fromStored(JSON.parse(JSON.stringify(stored))), data, 'the same session after a JSON round trip');
  const size = (v: unknown) => deflateRawSync(JSON.stringify(v)).length;
  t.ok(size(stored) < size(data) * 0.9, `deflates at least 10% smaller than the plain form (${size(stored)} vs ${size(data)} bytes)`);
  t.same(fromStored(JSON.parse(JSON.stringify(data))), data, 'a session sealed before the format (plain strings) reads as before');
  const opaque = { ...data, at: 'e3b0c44298fc1c149afbf4c8996fb924', idt: undefined };
  delete opaque.idt;
  t.same(fromStored(JSON.parse(JSON.stringify(toStored(opaque)))), opaque, 'opaque access token, no id token');
  t.equal(fromStored({ ...data, v: 3 }), null, 'another version is no session');
  t.equal(fromStored({ ...data, exp: 'soon' }), null);
  t.equal(fromStored({ ...data, at: ['x'] }), null, 'a malformed token member is no session');
  t.equal(fromStored(null), null);
  t.equal(fromStored('text'), null);
});

t.test('the session store reads sessions written in the plain form', async (t) => {
  const kv = new MemoryStore();
  const sessions = new SessionStore(kv, { now: () => Date.now() }, { ttl: 3600, idleTtl: 3600 });
  const now = Math.floor(Date.now() / 1000);
  const created = await sessions.create({ claims: { sub: 'u-1' }, at: 'a.b.c', idt: 'x.y.z' });
  // Overwrite with a value sealed the old way (no stored form), as an older replica wrote it.
  const old: SessionData = { v: 1, claims: { sub: 'u-1' }, at: 'old-at', idt: 'h.p.s', exp: now + 3600, w: now };
  const key = Buffer.from(deriveKey(created.secret, 'menshen gateway session v2'));
  await kv.set(`gw:sess:{${created.id}}`, sealJson(old, key, created.id), 3600);
  const other = new SessionStore(kv, { now: () => Date.now() }, { ttl: 3600, idleTtl: 3600 });
  const loaded = await other.load({ id: created.id, secret: created.secret });
  t.equal(loaded?.data.at, 'old-at');
  t.equal(loaded?.data.idt, 'h.p.s');
});
