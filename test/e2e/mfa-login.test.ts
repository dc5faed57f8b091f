/**
 * The login page's SMS step in a real Chromium (playwright-core, Debian's /usr/bin/chromium):
 * authorize -> password -> SMS step (the webhook sender posts the code to a real local listener)
 * -> a wrong code, a too-early resend, the right code -> the client's redirect_uri with a code
 * that the token endpoint accepts. The client app is a real HTTP listener too.
 */
import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startApp, TEST_PASSWORD, TEST_PASSWORD_HASH } from '../helpers/app.js';
import { launchChromium } from '../helpers/chromium.js';
import { startSmsWebhook } from '../helpers/sms-webhook.js';

const SECRET = 'web-secret-0123456789abcdef';

async function clientApp(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>client</title><p id="landed">${req.url?.length ?? 0}</p>`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`;
}

t.test('Chromium: password, then the SMS code, ends at the redirect_uri with a code', async (t) => {
  const hook = await startSmsWebhook(t);
  const cb = await clientApp(t);
  const { base } = await startApp(
    t,
    `
provider:
  issuer: "{{BASE}}/idp"
  mfa:
    sms: { enabled: true, sender: webhook, webhook: { url: "${hook.url}", timeoutMs: 2000 } }
  clients:
    - clientId: web
      name: Web App
      clientSecret: ${SECRET}
      redirectUris: ["${cb}"]
      grants: [authorization_code, refresh_token]
  users:
    - { username: alice, passwordHash: "${TEST_PASSWORD_HASH}", phone: "+8615088888888" }
`,
  );
  const idp = `${base}/idp`;
  const browser = await launchChromium(t);
  const context = await browser.newContext({ locale: 'en-US' });
  const page = await context.newPage();

  const authorize = `${idp}/oauth2/authorize?${new URLSearchParams({ client_id: 'web', redirect_uri: cb, response_type: 'code', scope: 'openid profile', state: 'xyz' })}`;
  await page.goto(authorize);
  await page.fill('#username', 'alice');
  await page.fill('#password', TEST_PASSWORD);
  await Promise.all([page.waitForURL(/\/idp\/login\/sms\?/), page.click('#submit')]);
  t.equal(await page.textContent('#sent-to'), 'We sent a code to +86150****8888');
  t.equal(hook.messages.length, 1, 'the SMS went to the webhook');
  const code = hook.last().code;

  await page.fill('#code', code === '000000' ? '000001' : '000000');
  await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
  t.equal(await page.textContent('#error'), 'Wrong code. 4 attempts left');

  await Promise.all([page.waitForLoadState('load'), page.click('#resend')]);
  t.match(await page.textContent('#error'), /^Wait \d+ seconds before asking for a new code$/, 'resend is rate-limited');
  t.equal(hook.messages.length, 1, 'no second SMS');

  await page.fill('#code', code);
  await Promise.all([page.waitForURL((u) => u.toString().startsWith(cb)), page.click('#submit')]);
  const landed = new URL(page.url());
  t.equal(landed.searchParams.get('state'), 'xyz');
  const authCode = landed.searchParams.get('code');
  t.ok(authCode, 'the client received a code');
  t.equal(await page.textContent('#landed') !== null, true, 'the client app rendered');

  const res = await fetch(`${idp}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: authCode!, redirect_uri: cb, client_id: 'web', client_secret: SECRET }),
  });
  t.equal(res.status, 200, 'the code is redeemed');
  const body = (await res.json()) as { id_token: string };
  t.same((JSON.parse(Buffer.from(body.id_token.split('.')[1]!, 'base64url').toString()) as { amr: string[] }).amr, ['pwd', 'sms', 'mfa']);

  // The provider SSO session now answers the next authorize without any prompt (no second SMS).
  await page.goto(`${authorize.replace('state=xyz', 'state=again')}`);
  await page.waitForURL((u) => u.toString().startsWith(cb));
  t.equal(new URL(page.url()).searchParams.get('state'), 'again');
  t.equal(hook.messages.length, 1);
});

t.test('Chromium (zh): a failed SMS send is shown, and a resend recovers', async (t) => {
  const hook = await startSmsWebhook(t);
  hook.mode = 'fail';
  const cb = await clientApp(t);
  const { base } = await startApp(
    t,
    `
provider:
  issuer: "{{BASE}}/idp"
  mfa:
    sms: { enabled: true, sender: webhook, webhook: { url: "${hook.url}", timeoutMs: 2000 } }
  clients:
    - { clientId: web, clientSecret: ${SECRET}, redirectUris: ["${cb}"], grants: [authorization_code] }
  users:
    - { username: alice, passwordHash: "${TEST_PASSWORD_HASH}", phone: "+8615088888888" }
`,
  );
  const browser = await launchChromium(t);
  const page = await (await browser.newContext({ locale: 'zh-CN' })).newPage();
  await page.goto(`${base}/idp/oauth2/authorize?${new URLSearchParams({ client_id: 'web', redirect_uri: cb, response_type: 'code', scope: 'openid' })}`);
  await page.fill('#username', 'alice');
  await page.fill('#password', TEST_PASSWORD);
  await Promise.all([page.waitForURL(/\/idp\/login\/sms\?/), page.click('#submit')]);
  t.match(await page.textContent('#error'), '短信发送失败', 'the user is told the SMS failed');
  hook.mode = 'ok';
  await Promise.all([page.waitForURL(/resent=1/), page.click('#resend')]);
  t.equal(await page.textContent('#notice'), '新的验证码已发送');
  await page.fill('#code', hook.last().code);
  await Promise.all([page.waitForURL((u) => u.toString().startsWith(cb)), page.click('#submit')]);
  t.ok(new URL(page.url()).searchParams.get('code'));
});
