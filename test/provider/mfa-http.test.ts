/**
 * The SMS second factor over HTTP against a real app (EIAM and CIAM token endpoints, the EIAM MFA
 * challenge, the login page's SMS step without a browser), with the webhook sender posting to a real
 * local listener that captures the code. Exact bodies from protocols.md T2 d/f, T3, §5.1, §5.4.
 */
import t from 'tap';
import { ManualClock } from '../../src/clock.js';
import { startApp, TEST_PASSWORD, TEST_PASSWORD_HASH } from '../helpers/app.js';
import { startSmsWebhook, type SmsWebhook } from '../helpers/sms-webhook.js';
import { Jar, basic, call, form, hidden } from './helpers.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const SECRET = 'eiam-secret-0123456789abcdef';
const CB = 'http://127.0.0.1:9/cb';
const JSON_UTF8 = 'application/json;charset=UTF-8';

function yaml(hookUrl: string, smsExtra = ''): string {
  return `
store: { type: memory }
provider:
  issuer: "{{BASE}}/idp"
  mfa:
    sms:
      enabled: true
      sender: webhook
      webhook: { url: "${hookUrl}", timeoutMs: 2000 }
${smsExtra}
  clients:
    - clientId: eiam
      clientSecret: ${SECRET}
      redirectUris: ["${CB}"]
      grants: [authorization_code, password, mfa_oob, refresh_token]
    - clientId: nomfa
      clientSecret: ${SECRET}
      redirectUris: ["${CB}"]
      grants: [authorization_code]
  users:
    - { username: alice, passwordHash: "${TEST_PASSWORD_HASH}", phone: "+8615088888888", email: alice@example.com }
    - { username: bob, passwordHash: "${TEST_PASSWORD_HASH}", phone: "+8615099999999" }
`;
}

interface Fx {
  idp: string;
  hook: SmsWebhook;
  clock: ManualClock;
}

async function boot(t: Test, smsExtra = ''): Promise<Fx> {
  const hook = await startSmsWebhook(t);
  const clock = new ManualClock();
  const app = await startApp(t, yaml(hook.url, smsExtra), { clock });
  return { idp: `${app.base}/idp`, hook, clock };
}

const q = (p: Record<string, string>) => new URLSearchParams(p).toString();

/** EIAM style: every parameter in the query string (1442/62553, 62436). */
function eiamPassword(fx: Fx, clientId = 'eiam') {
  return call(`${fx.idp}/auth/oauth2/token?${q({ grant_type: 'password', client_id: clientId, client_secret: SECRET, username: 'alice', password: TEST_PASSWORD })}`, { method: 'POST' });
}

function challenge(fx: Fx, params: Record<string, string>) {
  return call(`${fx.idp}/auth/mfa/challenge?${q(params)}`, { method: 'POST' });
}

function mfaOob(fx: Fx, params: Record<string, string>, path = '/auth/oauth2/token') {
  return call(`${fx.idp}${path}`, form({ client_id: 'eiam', client_secret: SECRET, ...params }));
}

async function mfaToken(t: Test, fx: Fx): Promise<string> {
  const r = await eiamPassword(fx);
  t.equal(r.status, 403);
  return String(r.json!.mfa_token);
}

t.test('EIAM: password -> 403 mfa_required -> challenge -> mfa_oob -> tokens', async (t) => {
  const fx = await boot(t);
  const r1 = await eiamPassword(fx);
  t.equal(r1.status, 403, '§5.1: HTTP 403');
  t.equal(r1.headers.get('content-type'), JSON_UTF8);
  t.same(Object.keys(r1.json!), ['error', 'error_description', 'mfa_token'], 'exactly these members, in this order');
  t.equal(r1.json!.error, 'mfa_required');
  t.equal(r1.json!.error_description, 'mfa required');
  const token = String(r1.json!.mfa_token);
  t.equal(fx.hook.messages.length, 0, 'no SMS before the challenge');

  const r2 = await challenge(fx, { client_id: 'eiam', client_secret: SECRET, mfa_token: token, challenge_type: 'oob', oob_channel: 'sms' });
  t.equal(r2.status, 200);
  t.equal(r2.headers.get('content-type'), JSON_UTF8);
  t.equal(r2.headers.get('cache-control'), 'no-store');
  t.same(Object.keys(r2.json!), ['challenge_type', 'oob_code'], 'T3: exactly challenge_type and oob_code');
  t.equal(r2.json!.challenge_type, 'oob');
  const oob = String(r2.json!.oob_code);
  const sms = fx.hook.last();
  t.same(sms, { phone: '+8615088888888', code: sms.code, purpose: 'login', expiresIn: 300 });

  const wrong = await mfaOob(fx, { grant_type: 'mfa_oob', mfa_token: token, code: oob, binding_code: sms.code === '123456' ? '654321' : '123456' });
  t.equal(wrong.status, 400);
  t.equal(wrong.text, '{"error":"invalid_grant","error_description":"invalid binding_code"}', '§5.4 exact body');

  const ok = await mfaOob(fx, { grant_type: 'mfa_oob', mfa_token: token, code: oob, binding_code: sms.code });
  t.equal(ok.status, 200, ok.text);
  t.same(Object.keys(ok.json!).sort(), ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type']);
  t.equal(ok.json!.token_type, 'Bearer');

  const replay = await mfaOob(fx, { grant_type: 'mfa_oob', mfa_token: token, code: oob, binding_code: sms.code });
  t.equal(replay.status, 400);
  t.equal(replay.text, '{"error":"invalid_grant","error_description":"invalid code"}', 'a replayed mfa_token/code');

  const userinfo = await call(`${fx.idp}/auth/oauth2/userinfo`, { headers: { authorization: `Bearer ${String(ok.json!.access_token)}` } });
  t.equal(userinfo.status, 200, 'the access token works');
  const refreshed = await call(`${fx.idp}/auth/oauth2/token`, form({ grant_type: 'refresh_token', refresh_token: String(ok.json!.refresh_token), client_id: 'eiam', client_secret: SECRET }));
  t.equal(refreshed.status, 200, 'and so does the refresh token');
});

t.test('CIAM form body, Basic auth, the oob_code spelling and the Auth0 grant URI', async (t) => {
  const fx = await boot(t);
  const r1 = await call(`${fx.idp}/oauth2/token`, {
    ...form({ grant_type: 'password', username: 'alice', password: TEST_PASSWORD }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('eiam', SECRET) },
  });
  t.equal(r1.status, 403);
  t.equal(r1.json!.error, 'mfa_required');
  const r2 = await call(`${fx.idp}/auth/mfa/challenge`, {
    ...form({ mfa_token: String(r1.json!.mfa_token), challenge_type: 'oob' }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('eiam', SECRET) },
  });
  t.equal(r2.status, 200, 'form body and Basic at the challenge');
  const ok = await mfaOob(
    fx,
    { grant_type: 'http://auth0.com/oauth/grant-type/mfa-oob', mfa_token: String(r1.json!.mfa_token), oob_code: String(r2.json!.oob_code), binding_code: fx.hook.last().code },
    '/oauth2/token',
  );
  t.equal(ok.status, 200, ok.text);
  const disco = await call(`${fx.idp}/auth/.well-known/openid-configuration`);
  t.ok((disco.json!.grant_types_supported as string[]).includes('mfa_oob'), 'discovery lists mfa_oob (§5.12)');
  t.notOk((disco.json!.grant_types_supported as string[]).includes('http://auth0.com/oauth/grant-type/mfa-oob'));
});

t.test('challenge errors (T3)', async (t) => {
  const fx = await boot(t);
  const token = await mfaToken(t, fx);
  const base = { client_id: 'eiam', mfa_token: token, challenge_type: 'oob' };
  const cases: Array<[string, Record<string, string>, number, string]> = [
    ['wrong secret', { ...base, client_secret: 'nope-nope-nope-nope' }, 403, '{"error":"unauthorized_client","error_description":"invalid client"}'],
    ['unknown client', { ...base, client_id: 'ghost' }, 403, '{"error":"unauthorized_client","error_description":"invalid client"}'],
    ['no client_id', { mfa_token: token, challenge_type: 'oob' }, 400, '{"error":"invalid_request","error_description":"missing client_id parameter"}'],
    ['no mfa_token', { client_id: 'eiam', challenge_type: 'oob' }, 400, '{"error":"invalid_request","error_description":"missing mfa_token parameter"}'],
    ['no challenge_type', { client_id: 'eiam', mfa_token: token }, 400, '{"error":"invalid_request","error_description":"missing challenge_type parameter"}'],
    ['challenge_type otp', { ...base, challenge_type: 'otp' }, 400, '{"error":"invalid_request","error_description":"invalid challenge_type"}'],
    ['oob_channel email', { ...base, oob_channel: 'email' }, 400, '{"error":"invalid_request","error_description":"invalid oob_channel"}'],
    ['unknown mfa_token', { ...base, mfa_token: 'A'.repeat(43) }, 400, '{"error":"invalid_grant","error_description":"invalid code"}'],
    ["another client's mfa_token", { ...base, client_id: 'nomfa', client_secret: SECRET }, 400, '{"error":"invalid_grant","error_description":"invalid code"}'],
  ];
  for (const [name, params, status, body] of cases) {
    const r = await challenge(fx, params);
    t.equal(r.status, status, `${name}: status`);
    t.equal(r.text, body, `${name}: body`);
  }
  t.equal(fx.hook.messages.length, 0, 'no SMS for any of them');
  const dup = await call(`${fx.idp}/auth/mfa/challenge?${q(base)}&mfa_token=x`, { method: 'POST' });
  t.equal(dup.status, 400, 'a repeated parameter');
});

t.test('mfa_oob errors: missing parameters, a client without the grant, unsupported grant', async (t) => {
  const fx = await boot(t);
  const token = await mfaToken(t, fx);
  const r = await challenge(fx, { client_id: 'eiam', mfa_token: token, challenge_type: 'oob' });
  const oob = String(r.json!.oob_code);
  const missingCode = await mfaOob(fx, { grant_type: 'mfa_oob', mfa_token: token, binding_code: '1' });
  t.equal(missingCode.text, '{"error":"invalid_request","error_description":"missing code parameter"}');
  const missingBinding = await mfaOob(fx, { grant_type: 'mfa_oob', mfa_token: token, code: oob });
  t.equal(missingBinding.text, '{"error":"invalid_request","error_description":"missing binding_code parameter"}');
  const missingToken = await mfaOob(fx, { grant_type: 'mfa_oob', code: oob, binding_code: '1' });
  t.equal(missingToken.text, '{"error":"invalid_request","error_description":"missing mfa_token parameter"}');
  const garbage = await mfaOob(fx, { grant_type: 'mfa_oob', mfa_token: 'x'.repeat(1000), code: oob, binding_code: '1' });
  t.equal(garbage.status, 400, 'an oversized mfa_token is a 4xx');
  const other = await call(`${fx.idp}/auth/oauth2/token`, form({ client_id: 'nomfa', client_secret: SECRET, grant_type: 'mfa_oob', mfa_token: token, code: oob, binding_code: fx.hook.last().code }));
  t.equal(other.status, 400);
  t.equal(other.json!.error, 'unauthorized_client', 'a client without mfa_oob in its grants');
});

t.test('expiry over HTTP: the code after 5 minutes, the mfa_token after 10', async (t) => {
  const fx = await boot(t);
  const token = await mfaToken(t, fx);
  const r = await challenge(fx, { client_id: 'eiam', mfa_token: token, challenge_type: 'oob' });
  fx.clock.advance(301_000);
  const late = await mfaOob(fx, { grant_type: 'mfa_oob', mfa_token: token, code: String(r.json!.oob_code), binding_code: fx.hook.last().code });
  t.equal(late.text, '{"error":"invalid_grant","error_description":"invalid code"}', 'an expired oob code');
  fx.clock.advance(300_000);
  const gone = await challenge(fx, { client_id: 'eiam', mfa_token: token, challenge_type: 'oob' });
  t.equal(gone.text, '{"error":"invalid_grant","error_description":"invalid code"}', 'an expired mfa_token');
});

t.test('resend rate limit and SMS gateway failures answer clearly', async (t) => {
  const fx = await boot(t);
  const token = await mfaToken(t, fx);
  const params = { client_id: 'eiam', mfa_token: token, challenge_type: 'oob' };
  fx.hook.mode = 'fail';
  const failed = await challenge(fx, params);
  t.equal(failed.status, 503);
  t.equal(failed.text, '{"error":"temporarily_unavailable","error_description":"sms delivery failed"}');
  fx.hook.mode = 'hang';
  const hung = await challenge(fx, params);
  t.equal(hung.status, 503, 'a hanging SMS gateway is cut off by the timeout');
  fx.hook.mode = 'ok';
  t.equal((await challenge(fx, params)).status, 200, 'a retry after a failure is not rate-limited');
  fx.clock.advance(20_000);
  const soon = await challenge(fx, params);
  t.equal(soon.status, 429);
  t.equal(soon.headers.get('retry-after'), '40');
  t.equal(soon.text, '{"error":"too_many_requests","error_description":"sms resend too soon"}');
  fx.clock.advance(40_000);
  t.equal((await challenge(fx, params)).status, 200, 'a minute later');
  t.equal(fx.hook.messages.length, 2);
});

/** The password step in a browser-less walk: returns the SMS step URL, the jar and the interaction. */
async function toSmsStep(fx: Fx, jar = new Jar()): Promise<{ smsUrl: URL; jar: Jar }> {
  const auth = `${fx.idp}/oauth2/authorize?${q({ client_id: 'eiam', redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's1' })}`;
  const r1 = await fetch(auth, { redirect: 'manual' });
  jar.update(r1);
  const login = new URL(r1.headers.get('location')!, fx.idp);
  const page = await fetch(login, { headers: { cookie: jar.header() } });
  jar.update(page);
  const html = await page.text();
  const post = form({ p_state: hidden(html, 'p_state'), csrf: hidden(html, 'csrf'), username: 'alice', password: TEST_PASSWORD });
  const r2 = await fetch(`${fx.idp}/login`, { ...post, redirect: 'manual', headers: { ...post.headers, cookie: jar.header() } });
  jar.update(r2);
  if (r2.status !== 303) throw new Error(`password step answered ${r2.status}`);
  return { smsUrl: new URL(r2.headers.get('location')!, fx.idp), jar };
}

async function postSms(fx: Fx, jar: Jar, html: string, path: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) {
  const post = form({ p_state: hidden(html, 'p_state'), csrf: hidden(html, 'csrf'), ...extra });
  const res = await fetch(`${fx.idp}${path}`, { ...post, redirect: 'manual', headers: { ...post.headers, cookie: jar.header(), ...headers } });
  jar.update(res);
  return { status: res.status, location: res.headers.get('location'), html: await res.text() };
}

t.test('login page SMS step without a browser: send, wrong code, right code, replay', async (t) => {
  const fx = await boot(t);
  const { smsUrl, jar } = await toSmsStep(fx);
  t.equal(smsUrl.pathname, '/idp/login/sms', 'the password step hands over to the SMS step');
  t.equal(fx.hook.messages.length, 0);
  const page = await fetch(smsUrl, { headers: { cookie: jar.header(), 'accept-language': 'zh-CN' } });
  const html = await page.text();
  t.equal(page.status, 200);
  t.equal(fx.hook.messages.length, 1, 'the first visit sends the code');
  t.match(html, '验证码已发送至 +86150****8888', 'zh page, masked phone');
  const reload = await fetch(smsUrl, { headers: { cookie: jar.header() } });
  t.match(await reload.text(), 'We sent a code to +86150****8888');
  t.equal(fx.hook.messages.length, 1, 'a reload does not send again');

  const noCookie = await fetch(`${fx.idp}/login/sms`, { ...form({ p_state: hidden(html, 'p_state'), csrf: hidden(html, 'csrf'), code: fx.hook.last().code }), redirect: 'manual' });
  t.equal(noCookie.status, 403, 'CSRF: the form without its cookie');
  const crossSite = await postSms(fx, jar, html, '/login/sms', { code: fx.hook.last().code }, { origin: 'http://evil.example' });
  t.equal(crossSite.status, 403, 'CSRF: a foreign Origin');

  const wrong = await postSms(fx, jar, html, '/login/sms', { code: fx.hook.last().code === '000000' ? '000001' : '000000' });
  t.equal(wrong.status, 400);
  t.match(wrong.html, 'Wrong code. 4 attempts left');
  const ok = await postSms(fx, jar, html, '/login/sms', { code: fx.hook.last().code });
  t.equal(ok.status, 303);
  const back = new URL(ok.location!);
  t.equal(`${back.origin}${back.pathname}`, CB);
  t.equal(back.searchParams.get('state'), 's1');
  t.ok(back.searchParams.get('code'));
  t.ok(jar.cookies.get('menshen_op'), 'the provider SSO session cookie');
  const tokens = await call(`${fx.idp}/oauth2/token`, form({ grant_type: 'authorization_code', code: back.searchParams.get('code')!, redirect_uri: CB, client_id: 'eiam', client_secret: SECRET }));
  t.equal(tokens.status, 200, 'the code works');
  const idClaims = JSON.parse(Buffer.from(String(tokens.json!.id_token).split('.')[1]!, 'base64url').toString()) as { amr: string[] };
  t.same(idClaims.amr, ['pwd', 'sms', 'mfa']);

  const replay = await postSms(fx, jar, html, '/login/sms', { code: fx.hook.last().code });
  t.equal(replay.status, 400, 'the finished step cannot be replayed');
  t.notOk(replay.location);
});

t.test('login page SMS step: five wrong codes send the user back to the password form', async (t) => {
  const fx = await boot(t);
  const { smsUrl, jar } = await toSmsStep(fx);
  const html = await (await fetch(smsUrl, { headers: { cookie: jar.header() } })).text();
  const right = fx.hook.last().code;
  const wrong = right === '111111' ? '222222' : '111111';
  for (let i = 0; i < 4; i++) t.equal((await postSms(fx, jar, html, '/login/sms', { code: wrong })).status, 400);
  const fifth = await postSms(fx, jar, html, '/login/sms', { code: wrong });
  t.match(fifth.html, 'Too many wrong codes. Sign in again');
  t.match(fifth.html, /id="restart" href="\/idp\/login\?p_state=/);
  const late = await postSms(fx, jar, html, '/login/sms', { code: right });
  t.notOk(late.location, 'the right code no longer works');
  t.match(late.html, 'Sign in again');
});

t.test('wrong SMS codes count per user: signing in again (same p_state or a new mfa_token) buys no fresh guesses', async (t) => {
  const fx = await boot(t);
  const { smsUrl, jar } = await toSmsStep(fx);
  const html = await (await fetch(smsUrl, { headers: { cookie: jar.header() } })).text();
  const wrongFor = (code: string) => (code === '111111' ? '222222' : '111111');
  for (let i = 0; i < 5; i++) await postSms(fx, jar, html, '/login/sms', { code: wrongFor(fx.hook.last().code) });

  // The password again, at the same p_state: a new SMS step, but the user's five guesses are spent.
  const loginHtml = await (await fetch(`${fx.idp}/login?p_state=${encodeURIComponent(hidden(html, 'p_state'))}`, { headers: { cookie: jar.header() } })).text();
  const post = form({ p_state: hidden(loginHtml, 'p_state'), csrf: hidden(loginHtml, 'csrf'), username: 'alice', password: TEST_PASSWORD });
  const again = await fetch(`${fx.idp}/login`, { ...post, redirect: 'manual', headers: { ...post.headers, cookie: jar.header() } });
  t.equal(again.status, 303);
  const againHtml = await (await fetch(new URL(again.headers.get('location')!, fx.idp), { headers: { cookie: jar.header() } })).text();
  const right = await postSms(fx, jar, againHtml, '/login/sms', { code: fx.hook.last().code });
  t.notOk(right.location, 'even the right code does not sign in');
  t.match(right.html, 'Too many wrong codes. Sign in again');

  // The password grant: a new mfa_token, the same user, the same spent guesses.
  const token = await mfaToken(t, fx);
  const sent = await challenge(fx, { client_id: 'eiam', mfa_token: token, challenge_type: 'oob' });
  t.equal(sent.status, 200);
  const oob = await mfaOob(fx, { grant_type: 'mfa_oob', mfa_token: token, code: String(sent.json!.oob_code), binding_code: fx.hook.last().code });
  t.equal(oob.text, '{"error":"invalid_grant","error_description":"invalid code"}', 'the right code at mfa_oob is refused too');

  fx.clock.advance(600_000);
  const later = await mfaToken(t, fx);
  const sentLater = await challenge(fx, { client_id: 'eiam', mfa_token: later, challenge_type: 'oob' });
  const ok = await mfaOob(fx, { grant_type: 'mfa_oob', mfa_token: later, code: String(sentLater.json!.oob_code), binding_code: fx.hook.last().code });
  t.equal(ok.status, 200, 'after the window the user signs in');
});

t.test('login page SMS step: resend limit, gateway failure and an empty code are shown on the page', async (t) => {
  const fx = await boot(t);
  fx.hook.mode = 'fail';
  const { smsUrl, jar } = await toSmsStep(fx);
  const first = await fetch(smsUrl, { headers: { cookie: jar.header() } });
  const html = await first.text();
  t.equal(first.status, 200, 'a failed send still renders the page');
  t.match(html, 'The SMS could not be sent');
  fx.hook.mode = 'ok';
  const resent = await postSms(fx, jar, html, '/login/sms/resend');
  t.equal(resent.status, 303, 'resend after a failure works at once');
  t.match(resent.location!, /\/idp\/login\/sms\?p_state=.*&resent=1$/);
  const after = await (await fetch(new URL(resent.location!, fx.idp), { headers: { cookie: jar.header() } })).text();
  t.match(after, 'A new code has been sent');
  t.match(after, 'You can ask for a new code in 60 seconds');
  const tooSoon = await postSms(fx, jar, html, '/login/sms/resend');
  t.equal(tooSoon.status, 429);
  t.match(tooSoon.html, 'Wait 60 seconds before asking for a new code');
  t.equal(fx.hook.messages.length, 1);
  const empty = await postSms(fx, jar, html, '/login/sms', { code: '' });
  t.match(empty.html, 'Enter the code from the SMS');
  const unknown = await fetch(`${fx.idp}/login/sms?p_state=${'B'.repeat(43)}`);
  t.equal(unknown.status, 400, 'an unknown p_state');
});

t.test('login page: another user at the same p_state gets nothing of the first one\'s SMS step', async (t) => {
  const fx = await boot(t);
  const { smsUrl, jar } = await toSmsStep(fx);
  const aliceHtml = await (await fetch(smsUrl, { headers: { cookie: jar.header() } })).text();
  const aliceCode = fx.hook.last().code;
  t.equal(fx.hook.last().phone, '+8615088888888');
  // Back to the password form of the same interaction, now as bob (whose password the attacker knows).
  const loginHtml = await (await fetch(`${fx.idp}/login?p_state=${encodeURIComponent(hidden(aliceHtml, 'p_state'))}`, { headers: { cookie: jar.header() } })).text();
  const post = form({ p_state: hidden(loginHtml, 'p_state'), csrf: hidden(loginHtml, 'csrf'), username: 'bob', password: TEST_PASSWORD });
  const r = await fetch(`${fx.idp}/login`, { ...post, redirect: 'manual', headers: { ...post.headers, cookie: jar.header() } });
  t.equal(r.status, 303);
  const bobPage = await fetch(new URL(r.headers.get('location')!, fx.idp), { headers: { cookie: jar.header() } });
  const bobHtml = await bobPage.text();
  t.equal(fx.hook.messages.length, 2, "bob's step sends its own code at once (alice's resend interval does not apply)");
  t.equal(fx.hook.last().phone, '+8615099999999');
  t.match(bobHtml, '+86150****9999');
  if (aliceCode !== fx.hook.last().code) {
    const withAlice = await postSms(fx, jar, bobHtml, '/login/sms', { code: aliceCode });
    t.equal(withAlice.status, 400, "alice's code does not sign bob in");
    t.match(withAlice.html, 'Wrong code. 4 attempts left', "and bob's count starts fresh");
  }
  const ok = await postSms(fx, jar, bobHtml, '/login/sms', { code: fx.hook.last().code });
  t.equal(ok.status, 303);
  const code = new URL(ok.location!).searchParams.get('code')!;
  const tokens = await call(`${fx.idp}/oauth2/token`, form({ grant_type: 'authorization_code', code, redirect_uri: CB, client_id: 'eiam', client_secret: SECRET }));
  const claims = JSON.parse(Buffer.from(String(tokens.json!.id_token).split('.')[1]!, 'base64url').toString()) as { sub: string };
  const bobInfo = await call(`${fx.idp}/userinfo`, { headers: { authorization: `Bearer ${String(tokens.json!.access_token)}` } });
  t.equal(bobInfo.json!.sub, claims.sub);
  t.ok(claims.sub, 'signed in');
});

t.test('the daily cap per phone over HTTP', async (t) => {
  const fx = await boot(t, '      dailyLimit: 1');
  const first = await mfaToken(t, fx);
  t.equal((await challenge(fx, { client_id: 'eiam', mfa_token: first, challenge_type: 'oob' })).status, 200);
  const second = await mfaToken(t, fx);
  const capped = await challenge(fx, { client_id: 'eiam', mfa_token: second, challenge_type: 'oob' });
  t.equal(capped.status, 429);
  t.equal(capped.text, '{"error":"too_many_requests","error_description":"daily sms limit reached"}');
  t.ok(Number(capped.headers.get('retry-after')) > 0 && Number(capped.headers.get('retry-after')) <= 86400, 'Retry-After: until the next day');
  t.equal(fx.hook.messages.length, 1);
  fx.clock.advance(86_400_000);
  const third = await mfaToken(t, fx);
  t.equal((await challenge(fx, { client_id: 'eiam', mfa_token: third, challenge_type: 'oob' })).status, 200, 'the next day');
});
