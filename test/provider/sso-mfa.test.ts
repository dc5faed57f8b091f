/**
 * /sso/oauth2/ uses the same login machinery as the Tencent endpoints: with SMS MFA on, the login
 * page's SMS step sits between the password and the /sso code, and /sso/token/ redeems that code.
 */
import t from 'tap';
import { startApp, TEST_PASSWORD, TEST_PASSWORD_HASH } from '../helpers/app.js';
import { startSmsWebhook } from '../helpers/sms-webhook.js';
import { Jar, form, hidden } from './helpers.js';

const SECRET = 'qc-secret-0123456789abcdef';
const CB = 'http://127.0.0.1:9/sample';

t.test('/sso/oauth2/ -> password -> SMS step -> code -> /sso/token/', async (t) => {
  const hook = await startSmsWebhook(t);
  const { base } = await startApp(
    t,
    `
provider:
  issuer: "{{BASE}}/idp"
  mfa:
    sms: { enabled: true, sender: webhook, webhook: { url: "${hook.url}" } }
  clients:
    - { clientId: app-1, clientSecret: ${SECRET}, redirectUris: ["${CB}"], grants: [authorization_code, refresh_token] }
  users:
    - { username: alice, passwordHash: "${TEST_PASSWORD_HASH}", phone: "+8615088888888" }
`,
  );
  const idp = `${base}/idp`;
  const jar = new Jar();
  const go = async (url: string | URL, init: RequestInit = {}) => {
    const res = await fetch(url, { redirect: 'manual', ...init, headers: { ...(init.headers as Record<string, string>), cookie: jar.header() } });
    jar.update(res);
    return res;
  };
  const r1 = await go(`${idp}/sso/oauth2/?${new URLSearchParams({ client_id: 'app-1', response_type: 'code', redirect_uri: CB, state: 'qc' })}`);
  t.equal(r1.status, 302);
  const loginUrl = new URL(r1.headers.get('location')!, idp);
  t.equal(loginUrl.pathname, '/idp/login', 'the shared login page');
  const loginHtml = await (await go(loginUrl)).text();
  const r2 = await go(`${idp}/login`, form({ p_state: hidden(loginHtml, 'p_state'), csrf: hidden(loginHtml, 'csrf'), username: 'alice', password: TEST_PASSWORD }));
  t.equal(r2.status, 303);
  const smsUrl = new URL(r2.headers.get('location')!, idp);
  t.equal(smsUrl.pathname, '/idp/login/sms', 'then its SMS step');
  const smsHtml = await (await go(smsUrl)).text();
  t.equal(hook.messages.length, 1);
  const r3 = await go(`${idp}/login/sms`, form({ p_state: hidden(smsHtml, 'p_state'), csrf: hidden(smsHtml, 'csrf'), code: hook.last().code }));
  t.equal(r3.status, 303);
  const back = new URL(r3.headers.get('location')!);
  t.equal(back.searchParams.get('state'), 'qc');
  const res = await fetch(`${idp}/sso/token/`, form({ grant_type: 'authorization_code', code: back.searchParams.get('code')!, redirect_uri: CB, client_id: 'app-1', client_secret: SECRET }));
  t.equal(res.status, 200, 'the /sso code from the SMS-completed login is redeemed at /sso/token/');
  const body = (await res.json()) as Record<string, unknown>;
  t.same(Object.keys(body), ['access_token', 'expires_in', 'token_type', 'refresh_token']);
});
