/**
 * A real Chromium (Debian's, through playwright-core) goes through the whole gateway login: a
 * protected page, the issuer's login page, back to the app with the identity headers, then logout.
 * Once against menshen's built-in provider, once against panva's oidc-provider (any standard issuer).
 */
import t from 'tap';
import { chromium, type Browser as Chromium } from 'playwright-core';
import { startApp, TEST_PASSWORD } from '../helpers/app.js';
import { builtinYaml } from '../gateway/helpers/builtin.js';
import { debugLogger, startStack } from '../gateway/helpers/stack.js';
import { startUpstream } from '../gateway/helpers/upstream.js';

const BROWSER_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface Echo {
  url: string;
  headers: Record<string, string>;
}

t.test('Chromium signs in through the gateway', async (t) => {
  const chrome: Chromium = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: BROWSER_ARGS });
  t.teardown(() => chrome.close());

  t.test('with the built-in provider', async (t) => {
    const upstream = await startUpstream(t);
    const gw = await startApp(t, builtinYaml(upstream.url), debugLogger());
    await gw.app.menshen.readiness.get('issuer')!();
    const context = await chrome.newContext({ locale: 'en-US', extraHTTPHeaders: { 'Accept-Language': 'en-US' } });
    t.teardown(() => context.close());
    const page = await context.newPage();

    await page.goto(`${gw.base}/reports/2024?view=full`);
    t.match(page.url(), /\/idp\/login\?p_state=/, "the provider's login page");
    await page.fill('#username', 'alice');
    await page.fill('#password', TEST_PASSWORD);
    await Promise.all([page.waitForURL(`${gw.base}/reports/2024?view=full`), page.click('#submit')]);
    const echo = JSON.parse((await page.textContent('body'))!) as Echo;
    t.equal(echo.url, '/reports/2024?view=full', 'the app got the original request');
    t.equal(echo.headers['x-auth-request-preferred-username'], 'alice');
    t.equal(echo.headers['x-remote-user'], 'alice');
    t.ok(echo.headers['x-menshen-assertion']);

    const cookies = await context.cookies(gw.base);
    const session = cookies.find((c) => c.name === 'menshen')!;
    t.ok(session.httpOnly, 'HttpOnly');
    t.equal(session.sameSite, 'Lax');
    t.equal(session.path, '/');
    t.notOk(cookies.some((c) => c.name === 'menshen-login'), 'no login-state cookie left behind');

    // rd must be one of the client's registered post-logout URIs for the provider to honour it.
    // The gateway asks first (logout is POST only): confirm on its page.
    await page.goto(`${gw.base}/_menshen/logout?rd=/bye`);
    t.ok(await context.cookies(gw.base).then((c) => c.some((x) => x.name === 'menshen')), 'the GET alone logs nobody out');
    await Promise.all([page.waitForURL(/\/idp\/login/), page.click('button[type=submit]')]);
    t.notOk((await context.cookies(gw.base)).some((c) => c.name === 'menshen'), 'session cookie gone');
    t.ok(page.url().startsWith(`${gw.base}/idp/login`), 'logged out at the provider too: back at /bye, which needs a login again');
  });

  t.test('with panva oidc-provider as an external issuer', async (t) => {
    const stack = await startStack(t);
    const context = await chrome.newContext();
    t.teardown(() => context.close());
    const page = await context.newPage();

    await page.goto(`${stack.base}/app/hello?x=1`);
    t.match(page.url(), new RegExp(`^${stack.issuer.url}/interaction/`), "the issuer's login page");
    await page.fill('input[name=login]', 'alice');
    await Promise.all([page.waitForURL(`${stack.base}/app/hello?x=1`), page.click('button[type=submit]')]);
    const echo = JSON.parse((await page.textContent('body'))!) as Echo;
    t.equal(echo.headers['x-auth-request-user'], stack.issuer.subOf('alice'));
    t.equal(echo.headers['x-auth-request-groups'], 'staff');

    await page.goto(`${stack.base}/_menshen/logout?rd=/bye`);
    await Promise.all([page.waitForURL(new RegExp(`^${stack.issuer.url}/session/end`)), page.click('button[type=submit]')]);
    t.match(page.url(), new RegExp(`^${stack.issuer.url}/session/end`), "the issuer's logout page");
    await Promise.all([page.waitForURL(`${stack.base}/bye`), page.click('button[name=logout]')]);
    t.pass('back at rd after logging out at the issuer');
  });
});
