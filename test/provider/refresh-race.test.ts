/**
 * A logout (or any family revocation) that lands while a refresh is rotating the same family must
 * win: the rotation is a compare-and-set on the family state (refresh-families.ts), so the refresh
 * answers invalid_grant and what it minted dies. The interleaving is forced, not hoped for: a real
 * Redis store behind a gate that holds one chosen read until the test lets it go.
 */
import t from 'tap';
import { ManualClock } from '../../src/clock.js';
import type { KvStore } from '../../src/store/store.js';
import { startApp } from '../helpers/app.js';
import { testRedisStore } from '../helpers/store.js';
import { CB, TEST_PASSWORD, WEB_SECRET, authorizeUrl, browserAuthorize, providerYaml, token, type ProviderFixture } from './helpers.js';

/** Real store; `hold(match)` parks the next `get` whose key matches, after it has read, until released. */
function gated(inner: KvStore) {
  let armed: { match: (key: string) => boolean; reached: () => void; release: Promise<void> } | null = null;
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'get')
        return async (key: string) => {
          const value = await target.get(key);
          const gate = armed;
          if (gate && gate.match(key)) {
            armed = null;
            gate.reached();
            await gate.release;
          }
          return value;
        };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return {
    store,
    hold(match: (key: string) => boolean) {
      let reached!: () => void;
      let release!: () => void;
      const atGate = new Promise<void>((r) => (reached = r));
      armed = { match, reached, release: new Promise<void>((r) => (release = r)) };
      return { atGate, release };
    },
  };
}

t.test('a logout racing a refresh is never undone by the rotation', async (t) => {
  const redis = await testRedisStore();
  t.teardown(() => redis.close());
  const gate = gated(redis);
  const clock = new ManualClock();
  const running = await startApp(t, providerYaml(), { clock, store: gate.store });
  const f: ProviderFixture = { ...running, clock, issuer: `${running.base}/idp` };

  const signIn = async () => {
    const { location, jar } = await browserAuthorize(
      f,
      authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid' }),
      { username: 'alice', password: TEST_PASSWORD },
    );
    const tokens = await token(f, { grant_type: 'authorization_code', client_id: 'web', client_secret: WEB_SECRET, code: location.searchParams.get('code')!, redirect_uri: CB });
    t.equal(tokens.status, 200);
    return { jar, refreshToken: String(tokens.json!.refresh_token) };
  };
  const refresh = (rt: string) => token(f, { grant_type: 'refresh_token', client_id: 'web', client_secret: WEB_SECRET, refresh_token: rt });

  t.test('logout between the family check and the rotation write', async (t) => {
    const { jar, refreshToken } = await signIn();
    // Hold the refresh right after it read the family state (still live), then log out.
    const held = gate.hold((key) => key.startsWith('rtf:'));
    const pending = refresh(refreshToken);
    await held.atGate;
    const out = await fetch(`${f.issuer}/logout?client_id=web`, { redirect: 'manual', headers: { cookie: jar.header() } });
    t.equal(out.status, 302, 'logged out');
    held.release();
    const r = await pending;
    t.equal(r.status, 400, 'the racing refresh loses');
    t.equal(r.text, '{"error":"invalid_grant","error_description":"invalid refresh_token"}');
  });

  t.test('reuse detection racing a rotation: the revocation stands', async (t) => {
    const { refreshToken: rt0 } = await signIn();
    const first = await refresh(rt0);
    t.equal(first.status, 200);
    const rt1 = String(first.json!.refresh_token);
    const held = gate.hold((key) => key.startsWith('rtf:'));
    const pending = refresh(rt1);
    await held.atGate;
    t.equal((await refresh(rt0)).status, 400, 'the rotated-out token is replayed: the family is revoked');
    held.release();
    t.equal((await pending).status, 400, 'the rotation in flight does not bring the family back');
  });

  t.test('nothing the losing rotation minted works, and the family stays revoked', async (t) => {
    const { jar, refreshToken } = await signIn();
    const held = gate.hold((key) => key.startsWith('rtf:'));
    const pending = refresh(refreshToken);
    await held.atGate;
    await fetch(`${f.issuer}/logout?client_id=web`, { redirect: 'manual', headers: { cookie: jar.header() } });
    held.release();
    const r = await pending;
    t.equal(r.status, 400);
    // What the losing rotation wrote before it lost (its refresh token, its access token record)
    // must be gone: no live token of either family remains in the store.
    const prefix = String(redis.client.options.keyPrefix);
    t.same(await redis.client.keys(`${prefix}rt:*`), [], 'no live refresh token left');
    t.same(await redis.client.keys(`${prefix}at:*`), [], 'no live access token left');
  });
});
