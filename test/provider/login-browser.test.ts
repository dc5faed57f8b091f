/**
 * A real Chromium (Debian's, through playwright-core) with JavaScript disabled fills the provider
 * login page in Chinese and in English, sees the wrong-password message, and ends at the client's
 * redirect_uri (a real listener) with a code that the token endpoint accepts.
 */
import t from 'tap';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';
import { freePort } from '../helpers/redis-server.js';
import { TEST_PASSWORD, authorizeUrl, startProvider, token } from './helpers.js';

const BROWSER_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

t.test('login page in Chromium', async (t) => {
  const cbPort = await freePort();
  const callback = createServer((_req, res) => res.end('signed in'));
  await new Promise<void>((r) => callback.listen(cbPort, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => callback.close(() => r())));
  const cb = `http://127.0.0.1:${cbPort}/cb`;

  const f = await startProvider(t, {
    extraClients: `    - clientId: browser-app
      name: 浏览器应用
      clientSecret: browser-secret-0123456789abcdef
      redirectUris: ["${cb}"]
      grants: [authorization_code]
`,
  });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: BROWSER_ARGS });
  t.teardown(() => browser.close());

  const cases = [
    { locale: 'zh-CN', accept: 'zh-CN,zh;q=0.9', heading: '登录', wrong: '用户名或密码错误', submit: '登录' },
    { locale: 'en-US', accept: 'en-US,en;q=0.9', heading: 'Sign in', wrong: 'Wrong username or password', submit: 'Sign in' },
  ];
  for (const c of cases) {
    t.test(c.locale, async (t) => {
      const context = await browser.newContext({ locale: c.locale, extraHTTPHeaders: { 'Accept-Language': c.accept }, javaScriptEnabled: false });
      t.teardown(() => context.close());
      const page = await context.newPage();
      const state = `st-${c.locale}`;
      await page.goto(authorizeUrl(f, { client_id: 'browser-app', redirect_uri: cb, response_type: 'code', scope: 'openid profile', state }));
      t.match(page.url(), /\/idp\/login\?p_state=/);
      t.equal(await page.textContent('h1'), c.heading);
      t.equal(await page.textContent('#submit'), c.submit);

      await page.fill('#username', 'alice');
      await page.fill('#password', 'not-the-password');
      await Promise.all([page.waitForURL(/\/idp\/login$/), page.click('#submit')]);
      t.equal((await page.textContent('#error'))?.trim(), c.wrong);
      t.equal(await page.inputValue('#username'), 'alice', 'the username is kept');

      await page.fill('#password', TEST_PASSWORD);
      await Promise.all([page.waitForURL((u) => u.href.startsWith(cb)), page.click('#submit')]);
      const landed = new URL(page.url());
      t.equal(landed.searchParams.get('state'), state);
      const code = landed.searchParams.get('code');
      t.ok(code, 'a code at the redirect_uri');
      t.equal(await page.textContent('body'), 'signed in');
      const tokens = await token(f, { grant_type: 'authorization_code', client_id: 'browser-app', client_secret: 'browser-secret-0123456789abcdef', code: code!, redirect_uri: cb });
      t.equal(tokens.status, 200, 'the code is good');

      // Second visit in the same browser: silent, straight back to the app.
      await page.goto(authorizeUrl(f, { client_id: 'browser-app', redirect_uri: cb, response_type: 'code', scope: 'openid' }));
      t.ok(new URL(page.url()).searchParams.get('code'), 'provider SSO session: no login page');
    });
  }
});
