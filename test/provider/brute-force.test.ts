/**
 * Brute-force counters (issue 2): past the per username+IP threshold, and past the per-IP one,
 * attempts are refused with `Abnormal user status` without checking the password, until the
 * window passes on the injected clock. Small thresholds in the test config; Redis store.
 */
import t from 'tap';
import { TEST_PASSWORD, WEB_SECRET, authorizeUrl, CB, Jar, form, hidden, startProvider, token } from './helpers.js';

const ABNORMAL = '{"error":"invalid_grant","error_description":"Abnormal user status"}';
const WRONG = '{"error":"invalid_grant","error_description":"Wrong username or password"}';

t.test('brute-force lockout', async (t) => {
  const f = await startProvider(t, { store: 'redis', bruteForce: { perUserIp: 3, perIp: 5, window: 900 } });
  const attempt = (username: string, password: string) =>
    token(f, { grant_type: 'password', client_id: 'web', client_secret: WEB_SECRET, username, password }).then((r) => r.text);

  t.test('per username + IP', async (t) => {
    for (let i = 0; i < 3; i++) t.equal(await attempt('alice', 'wrong'), WRONG, `failure ${i + 1}`);
    t.equal(await attempt('alice', TEST_PASSWORD), ABNORMAL, 'locked: even the right password is refused');
    t.equal(await attempt('bob', TEST_PASSWORD).then((b) => JSON.parse(b).token_type), 'Bearer', 'another user from the same IP is fine');
    f.clock.advance(900_000);
    t.equal(JSON.parse(await attempt('alice', TEST_PASSWORD)).token_type, 'Bearer', 'the window passed');
  });

  t.test('a success clears the username counter', async (t) => {
    f.clock.advance(900_000);
    await attempt('bob', 'wrong');
    await attempt('bob', 'wrong');
    t.equal(JSON.parse(await attempt('bob', TEST_PASSWORD)).token_type, 'Bearer');
    await attempt('bob', 'wrong');
    await attempt('bob', 'wrong');
    t.equal(JSON.parse(await attempt('bob', TEST_PASSWORD)).token_type, 'Bearer', 'counting started again');
  });

  t.test('per IP, across usernames', async (t) => {
    f.clock.advance(900_000);
    for (const name of ['u1', 'u2', 'u3', 'u4', 'u5']) t.equal(await attempt(name, 'wrong'), WRONG);
    t.equal(await attempt('alice', TEST_PASSWORD), ABNORMAL, 'the IP is locked out');
    f.clock.advance(900_000);
    t.equal(JSON.parse(await attempt('alice', TEST_PASSWORD)).token_type, 'Bearer');
  });

  t.test('the login page counts and refuses alike', async (t) => {
    f.clock.advance(900_000);
    const open = async () => {
      const jar = new Jar();
      const r = await fetch(authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid' }), { redirect: 'manual' });
      const page = await fetch(new URL(r.headers.get('location')!, f.base), { headers: { 'accept-language': 'en' } });
      jar.update(page);
      const html = await page.text();
      return async (password: string) => {
        const init = form({ p_state: hidden(html, 'p_state'), csrf: hidden(html, 'csrf'), username: 'alice', password });
        const res = await fetch(`${f.issuer}/login`, { ...init, redirect: 'manual', headers: { ...init.headers, cookie: jar.header(), 'accept-language': 'en' } });
        return { status: res.status, text: await res.text() };
      };
    };
    const submit = await open();
    for (let i = 0; i < 3; i++) t.match((await submit('wrong')).text, /Wrong username or password/);
    const locked = await submit(TEST_PASSWORD);
    t.equal(locked.status, 200);
    t.match(locked.text, /This account is unavailable/);
    f.clock.advance(900_000);
    t.equal((await (await open())(TEST_PASSWORD)).status, 303, 'in again after the window (a new login: the old one expired)');
  });
});
