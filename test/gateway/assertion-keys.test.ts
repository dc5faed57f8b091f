/**
 * The keys that sign X-Menshen-Assertion: never in the store in clear (a Redis dump alone must not
 * forge identity for every upstream). Generated keys are sealed under gateway.session.secret,
 * shared by replicas, kept across a secret rotation, replaced when every secret rotated away;
 * configured keys (gateway.assertionKeys) are used as they are. Runs on a real Redis.
 */
import t from 'tap';
import { generateJwkSet } from '../../src/crypto/keystore.js';
import { loadAssertionKeys, LEGACY_CLEAR_KEYS_KEY, SEALED_KEYS_KEY } from '../../src/gateway/assertion-keys.js';
import { configFromYaml } from '../../src/config/load.js';
import { testRedisStore } from '../helpers/store.js';
import { startStack } from './helpers/stack.js';
import { rawRequest } from './helpers/raw.js';
import { jwtVerify, createLocalJWKSet, type JWK } from 'jose';

const OLD = 'the-old-session-secret-0123456789abcdef';
const NEW = 'the-new-session-secret-0123456789abcdef';
const warnings: string[] = [];
const log = { warn: (_o: object, msg: string) => void warnings.push(msg) };

t.test('generated keys are sealed in the store and shared; rotation keeps them until no secret opens them', async (t) => {
  const kv = await testRedisStore();
  t.teardown(() => kv.close());
  const first = await loadAssertionKeys({ configured: undefined, secrets: [OLD], kv, log });
  const stored = (await kv.get(SEALED_KEYS_KEY))!;
  t.ok(stored, 'kept in the store');
  t.notMatch(stored, /"d"|"kty"|"kid"/, 'not readable there: no JWK members in clear');
  t.throws(() => JSON.parse(stored), 'not JSON at all');
  t.equal(await kv.get(LEGACY_CLEAR_KEYS_KEY), null, 'and nothing under the old clear key');

  const replica = await loadAssertionKeys({ configured: undefined, secrets: [OLD], kv, log });
  t.equal(replica.kid, first.kid, 'another replica signs with the same key');

  const rotated = await loadAssertionKeys({ configured: undefined, secrets: [NEW, OLD], kv, log });
  t.equal(rotated.kid, first.kid, 'a new first secret, the old one still listed: same key');
  const afterRotation = await loadAssertionKeys({ configured: undefined, secrets: [NEW], kv, log });
  t.equal(afterRotation.kid, first.kid, 're-sealed under the new secret: the old one can go');

  const stranger = await loadAssertionKeys({ configured: undefined, secrets: ['another-secret-entirely-0123456789abcd'], kv, log });
  t.not(stranger.kid, first.kid, 'no listed secret opens the set: new keys');
  t.match(warnings, [/no gateway.session.secret opens/]);
});

t.test('a running gateway keeps no private key readable in its store', async (t) => {
  const stack = await startStack(t, { store: 'memory' });
  const jwks = (await (await fetch(`${stack.base}/_menshen/jwks`)).json()) as { keys: JWK[] };
  t.equal(jwks.keys.length, 1);
  t.equal(await stack.gw.store.get(LEGACY_CLEAR_KEYS_KEY), null, 'no clear key set');
  const sealed = await stack.gw.store.get(SEALED_KEYS_KEY);
  t.ok(sealed, 'the set is stored sealed');
  t.notMatch(sealed!, new RegExp(jwks.keys[0]!.kid!), 'its kid is not even visible');
});

t.test('a clear set left by an older version is adopted, sealed, and removed', async (t) => {
  const kv = await testRedisStore();
  t.teardown(() => kv.close());
  const legacy = await generateJwkSet('ES256');
  await kv.set(LEGACY_CLEAR_KEYS_KEY, JSON.stringify(legacy));
  const keys = await loadAssertionKeys({ configured: undefined, secrets: [OLD], kv, log });
  t.equal(keys.kid, legacy.keys[0]!.kid, 'upstreams keep the kid they trust');
  t.equal(await kv.get(LEGACY_CLEAR_KEYS_KEY), null, 'the clear copy is gone');
  t.ok(await kv.get(SEALED_KEYS_KEY));
});

t.test('configured gateway.assertionKeys sign the assertions; nothing is stored', async (t) => {
  const set = await generateJwkSet('ES256');
  const kid = set.keys[0]!.kid!;
  const stack = await startStack(t, { store: 'memory', gateway: `  assertionKeys: '${JSON.stringify(set)}'` });
  const jwks = (await (await fetch(`${stack.base}/_menshen/jwks`)).json()) as { keys: JWK[] };
  t.same(jwks.keys.map((k) => k.kid), [kid]);
  t.notOk(jwks.keys[0]!.d, 'public only');
  await stack.browser.login(`${stack.base}/app/`, 'alice');
  const res = await rawRequest(stack.base, '/app/x', { headers: { accept: 'application/json', cookie: `menshen=${stack.browser.cookie(stack.base, 'menshen')!}` } });
  const assertion = (JSON.parse(res.body) as { headers: Record<string, string> }).headers['x-menshen-assertion']!;
  const { protectedHeader } = await jwtVerify(assertion, createLocalJWKSet({ keys: jwks.keys }), { audience: 'app', currentDate: new Date(stack.clock.now()) });
  t.equal(protectedHeader.kid, kid);
  t.equal(await stack.gw.store.get(SEALED_KEYS_KEY), null, 'nothing generated or stored');
});

t.test('gateway.assertionKeys must be a private JWK set', async (t) => {
  const base = `
server: { publicUrl: "http://127.0.0.1:1" }
store: { type: memory }
gateway:
  oidc: { issuer: "http://127.0.0.1:2", clientId: gw }
  session: { secret: ${OLD} }
`;
  t.throws(() => configFromYaml(`${base}  assertionKeys: "not json"\n`), /gateway\.assertionKeys/);
  const pub = await generateJwkSet('ES256');
  delete (pub.keys[0] as Record<string, unknown>).d;
  t.throws(() => configFromYaml(`${base}  assertionKeys: '${JSON.stringify(pub)}'\n`), /gateway\.assertionKeys: must be a JWK set whose first key is private/);
  const good = JSON.stringify(await generateJwkSet('ES256'));
  t.doesNotThrow(() => configFromYaml(`${base}  assertionKeys: '${good}'\n`));
});
