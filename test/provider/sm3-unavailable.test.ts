/**
 * A Node build without SM3 in node:crypto (OpenSSL configured without it, FIPS mode): EIAM's SM3
 * PKCE (protocols.md §5.2) cannot work, and must say so with a 400 invalid_request, never a 500;
 * discovery stops advertising it, S256 still works, and the start-up log warns once.
 * This process's node:crypto is made to report no `sm3` before the app starts (each tap file runs
 * in its own process, so no other test sees it).
 */
import crypto, { createHash } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../src/clock.js';
import { verifyPkce } from '../../src/provider/engine/pkce.js';
import { LogLines } from '../ops/helpers.js';
import { startApp } from '../helpers/app.js';
import { CB, TEST_PASSWORD, WEB_SECRET, authorizeUrl, browserAuthorize, providerYaml, token, type ProviderFixture } from './helpers.js';

const realGetHashes = crypto.getHashes;
crypto.getHashes = () => realGetHashes().filter((h) => h.toLowerCase() !== 'sm3');
t.teardown(() => {
  crypto.getHashes = realGetHashes;
});

const VERIFIER = 'v'.repeat(43);

t.test('EIAM SM3 PKCE without SM3 in node:crypto', async (t) => {
  const logs = new LogLines();
  const clock = new ManualClock();
  const running = await startApp(t, providerYaml(), { clock, logger: { level: 'warn', stream: logs.stream() } });
  const f: ProviderFixture = { ...running, clock, issuer: `${running.base}/idp` };

  const warnings = logs.lines.filter((l) => typeof l.msg === 'string' && /sm3/i.test(l.msg));
  t.equal(warnings.length, 1, 'one start-up warning');
  t.equal(warnings[0]?.level, 40);

  const disco = (await (await fetch(`${f.issuer}/auth/.well-known/openid-configuration`)).json()) as { code_challenge_methods_supported: string[] };
  t.same(disco.code_challenge_methods_supported, ['S256'], 'discovery no longer offers SM3');

  const sm3 = await fetch(authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: 'c'.repeat(43), code_challenge_method: 'SM3' }, '/auth/oauth2/authorize'), { redirect: 'manual' });
  t.equal(sm3.status, 302, 'the error goes back to the client (RFC 6749 §4.1.2.1)');
  const back = new URL(sm3.headers.get('location')!);
  t.equal(back.searchParams.get('error'), 'invalid_request');
  t.match(back.searchParams.get('error_description'), /SM3/);

  const { location } = await browserAuthorize(
    f,
    authorizeUrl(
      f,
      { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: createHash('sha256').update(VERIFIER).digest('base64url'), code_challenge_method: 'S256' },
      '/auth/oauth2/authorize',
    ),
    { username: 'alice', password: TEST_PASSWORD },
  );
  const s256 = await token(f, { grant_type: 'authorization_code', client_id: 'web', client_secret: WEB_SECRET, code: location.searchParams.get('code')!, redirect_uri: CB, code_verifier: VERIFIER }, { path: '/auth/oauth2/token' });
  t.equal(s256.status, 200, 'S256 still works');

  // A code with an SM3 challenge from a replica that had SM3: a clear invalid_request, not a 500.
  t.throws(() => verifyPkce('c'.repeat(43), 'SM3', VERIFIER), { kind: 'invalid_parameter', param: 'code_verifier', message: /SM3 is not available/ });
});
