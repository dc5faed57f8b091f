/**
 * The SMS second factor at the engine level: the password grant parks the login, the challenge
 * sends a code through the webhook sender to a real local listener, mfa_oob finishes it. Limits and
 * lifetimes against a ManualClock; state in the suite's real Redis.
 */
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { configFromYaml } from '../../src/config/load.js';
import { ManualClock } from '../../src/clock.js';
import { Engine } from '../../src/provider/engine/engine.js';
import { ProviderError } from '../../src/provider/engine/errors.js';
import { installSmsMfa } from '../../src/provider/engine/mfa/install.js';
import { AUTH0_MFA_OOB } from '../../src/provider/engine/grants/mfa-oob.js';
import type { DialectProfile } from '../../src/provider/engine/authorize.js';
import { WebhookSmsSender } from '../../src/provider/sms/webhook-sender.js';
import { LogSmsSender } from '../../src/provider/sms/log-sender.js';
import { TEST_PASSWORD, TEST_PASSWORD_HASH } from '../helpers/app.js';
import { testRedisStore, testRedisUrl, uniquePrefix } from '../helpers/store.js';
import { startSmsWebhook, type SmsWebhook } from '../helpers/sms-webhook.js';

const profile: DialectProfile = {
  issuer: 'http://127.0.0.1/idp',
  pkceMethods: ['S256'],
  redirectUriRequired: true,
  secretlessWithPkce: false,
  passwordGrantRefresh: true,
};

function yaml(webhookUrl: string, extra = ''): string {
  return `
provider:
  issuer: http://127.0.0.1/idp
  mfa:
    sms:
      enabled: true
      sender: webhook
      webhook: { url: "${webhookUrl}", headers: { x-api-key: k-123 }, timeoutMs: 2000 }
      dailyLimit: 4
${extra}
  clients:
    - clientId: app
      clientSecret: app-secret-0123456789
      redirectUris: [http://127.0.0.1/cb]
      grants: [password, mfa_oob, refresh_token]
    - clientId: other
      clientSecret: other-secret-0123456789
      redirectUris: [http://127.0.0.1/cb]
      grants: [password, mfa_oob]
  users:
    - { username: alice, passwordHash: "${TEST_PASSWORD_HASH}", phone: "+8613800001111", email: alice@example.com }
    - { username: bob, passwordHash: "${TEST_PASSWORD_HASH}", phone: "+8613800002222", mfa: false }
    - { username: carol, passwordHash: "${TEST_PASSWORD_HASH}" }
`;
}

interface Fixture {
  engine: Engine;
  clock: ManualClock;
  hook: SmsWebhook;
  prefix: string;
  warnings: Array<{ obj: object; msg: string }>;
}

async function fixture(t: Test, extra = ''): Promise<Fixture> {
  const hook = await startSmsWebhook(t);
  const config = configFromYaml(yaml(hook.url, extra));
  const prefix = uniquePrefix();
  const store = await testRedisStore(prefix);
  t.teardown(() => store.close());
  const clock = new ManualClock(Date.UTC(2026, 0, 10, 12, 0, 0));
  const warnings: Fixture['warnings'] = [];
  const log = { info: () => {}, warn: (obj: object, msg: string) => warnings.push({ obj, msg }), error: () => {} };
  const engine = await Engine.create({ config: config.provider!, store, clock, log });
  const sms = config.provider!.mfa.sms;
  installSmsMfa(engine, new WebhookSmsSender({ url: sms.webhook.url, headers: sms.webhook.headers, timeoutMs: sms.webhook.timeoutMs }));
  return { engine, clock, hook, prefix, warnings };
}

const client = (f: Fixture, id = 'app') => f.engine.clients.get(id)!;

/** The password grant, expecting mfa_required: returns the mfa_token. */
async function passwordStep(f: Fixture, username = 'alice', clientId = 'app'): Promise<string> {
  try {
    await f.engine.exchange('password', {
      client: client(f, clientId),
      clientAuthenticated: true,
      params: { username, password: TEST_PASSWORD, scope: 'openid profile' },
      profile,
      ip: '127.0.0.1',
    });
  } catch (err) {
    if (err instanceof ProviderError && err.kind === 'mfa_required') return err.extra!.mfa_token!;
    throw err;
  }
  throw new Error('expected mfa_required');
}

function mfaOob(f: Fixture, params: Record<string, string>, type = 'mfa_oob', clientId = 'app') {
  return f.engine.exchange(type, { client: client(f, clientId), clientAuthenticated: true, params, profile, ip: '127.0.0.1' });
}

async function rejects(t: Test, p: Promise<unknown>, kind: string, msg: string): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    t.ok(err instanceof ProviderError, `${msg}: a ProviderError`);
    t.equal((err as ProviderError).kind, kind, msg);
    return err as ProviderError;
  }
  t.fail(`${msg}: expected ${kind}, it succeeded`);
  return new ProviderError('invalid_request', 'unreachable');
}

const sms = (f: Fixture) => f.engine.secondFactor as import('../../src/provider/engine/mfa/sms-mfa.js').SmsMfa;

t.test('password -> mfa_required -> challenge (webhook) -> mfa_oob -> tokens; replay refused', async (t) => {
  const f = await fixture(t);
  const mfaToken = await passwordStep(f);
  t.match(mfaToken, /^[A-Za-z0-9_-]{43}$/, 'mfa_token: 256 random bits, base64url');

  const sent = await sms(f).challenge('grant', mfaToken, 'app');
  t.equal(f.hook.messages.length, 1, 'one SMS went out');
  const m = f.hook.last();
  t.same(Object.keys(m).sort(), ['code', 'expiresIn', 'phone', 'purpose']);
  t.equal(m.phone, '+8613800001111');
  t.equal(m.purpose, 'login');
  t.equal(m.expiresIn, 300);
  t.match(m.code, /^\d{6}$/);
  t.equal(f.hook.headers[0]!['x-api-key'], 'k-123', 'configured headers are sent');
  t.match(f.hook.headers[0]!['content-type'], /^application\/json/);
  t.equal(sent.sentTo, '+86138****1111');

  await rejects(t, mfaOob(f, { mfa_token: mfaToken, code: sent.oobCode, binding_code: m.code === '000000' ? '000001' : '000000' }), 'invalid_binding_code', 'wrong digits');
  const tokens = await mfaOob(f, { mfa_token: mfaToken, code: sent.oobCode, binding_code: m.code });
  t.ok(tokens.access_token && tokens.refresh_token && tokens.id_token, 'access, refresh and id token');
  t.equal(tokens.scope, 'openid profile', 'the scope of the password step');
  const claims = JSON.parse(Buffer.from(tokens.id_token!.split('.')[1]!, 'base64url').toString()) as { amr: string[] };
  t.same(claims.amr, ['pwd', 'sms', 'mfa']);

  await rejects(t, mfaOob(f, { mfa_token: mfaToken, code: sent.oobCode, binding_code: m.code }), 'invalid_oob_code', 'a used mfa_token and code are refused');
  await rejects(t, sms(f).challenge('grant', mfaToken, 'app'), 'invalid_oob_code', 'no new challenge for a finished login');
});

t.test('the Auth0 grant URI and oob_code spelling are accepted', async (t) => {
  const f = await fixture(t);
  const mfaToken = await passwordStep(f);
  const sent = await sms(f).challenge('grant', mfaToken, 'app');
  const tokens = await mfaOob(f, { mfa_token: mfaToken, oob_code: sent.oobCode, binding_code: f.hook.last().code }, AUTH0_MFA_OOB);
  t.ok(tokens.access_token);
  t.ok(f.engine.grants.types().includes('mfa_oob'), 'mfa_oob is served (discovery lists it)');
  t.notOk(f.engine.grants.types().includes(AUTH0_MFA_OOB), 'the alias is not listed twice');
});

t.test('who needs the second factor', async (t) => {
  const f = await fixture(t);
  const bob = await f.engine.exchange('password', { client: client(f), clientAuthenticated: true, params: { username: 'bob', password: TEST_PASSWORD }, profile, ip: '127.0.0.1' });
  t.ok(bob.access_token, 'mfa: false exempts a user');
  const carol = await f.engine.exchange('password', { client: client(f), clientAuthenticated: true, params: { username: 'carol', password: TEST_PASSWORD }, profile, ip: '127.0.0.1' });
  t.ok(carol.access_token, 'a user without a phone signs in with the password');
  await rejects(t, f.engine.exchange('password', { client: client(f), clientAuthenticated: true, params: { username: 'alice', password: 'wrong' }, profile, ip: '127.0.0.1' }), 'wrong_credentials', 'a wrong password never reaches the SMS step');
  t.equal(f.hook.messages.length, 0, 'nothing was sent');
});

t.test('five wrong codes end the login', async (t) => {
  const f = await fixture(t);
  const mfaToken = await passwordStep(f);
  const sent = await sms(f).challenge('grant', mfaToken, 'app');
  const right = f.hook.last().code;
  const wrong = right === '999999' ? '999998' : '999999';
  for (let i = 1; i <= 5; i++) {
    const err = await rejects(t, mfaOob(f, { mfa_token: mfaToken, code: sent.oobCode, binding_code: wrong }), 'invalid_binding_code', `wrong code ${i}`);
    t.equal(err.extra?.attempts_left, String(5 - i));
  }
  await rejects(t, mfaOob(f, { mfa_token: mfaToken, code: sent.oobCode, binding_code: right }), 'invalid_oob_code', 'even the right code is refused after five wrong ones');
  await rejects(t, sms(f).challenge('grant', mfaToken, 'app'), 'invalid_oob_code', 'and no new code can be asked for');
});

t.test('concurrent guesses get at most maxAttempts comparisons', async (t) => {
  const f = await fixture(t);
  const mfaToken = await passwordStep(f);
  const sent = await sms(f).challenge('grant', mfaToken, 'app');
  const right = f.hook.last().code;
  const guesses = Array.from({ length: 12 }, (_, i) => String((Number(right) + 1 + i) % 1e6).padStart(6, '0'));
  const results = await Promise.allSettled(guesses.map((g) => mfaOob(f, { mfa_token: mfaToken, code: sent.oobCode, binding_code: g })));
  const kinds = results.map((r) => (r.status === 'rejected' ? (r.reason as ProviderError).kind : 'ok'));
  t.equal(kinds.filter((k) => k === 'invalid_binding_code').length, 5, 'five compared');
  t.equal(kinds.filter((k) => k === 'invalid_oob_code').length, 7, 'the rest refused unseen');
});

t.test('lifetimes follow the clock: code 5 minutes, mfa_token 10 minutes', async (t) => {
  const f = await fixture(t);
  const mfaToken = await passwordStep(f);
  const sent = await sms(f).challenge('grant', mfaToken, 'app');
  f.clock.advance(300_000);
  await rejects(t, mfaOob(f, { mfa_token: mfaToken, code: sent.oobCode, binding_code: f.hook.last().code }), 'invalid_oob_code', 'an expired code is invalid code');
  const again = await sms(f).challenge('grant', mfaToken, 'app');
  t.ok(again.oobCode !== sent.oobCode, 'a new challenge after the old code expired');
  t.ok(again.expiresIn <= 300 && again.expiresIn > 0);
  f.clock.advance(300_001);
  await rejects(t, mfaOob(f, { mfa_token: mfaToken, code: again.oobCode, binding_code: f.hook.last().code }), 'invalid_oob_code', 'an expired mfa_token is invalid code');
  await rejects(t, sms(f).challenge('grant', mfaToken, 'app'), 'invalid_oob_code', 'no challenge on an expired mfa_token');
});

t.test('a code never outlives its mfa_token', async (t) => {
  const f = await fixture(t);
  const mfaToken = await passwordStep(f);
  f.clock.advance(420_000);
  const sent = await sms(f).challenge('grant', mfaToken, 'app');
  t.equal(sent.expiresIn, 180, 'the SMS says 180 s, what is left of the 10 minutes');
  t.equal(f.hook.last().expiresIn, 180);
});

t.test('resend: once a minute per challenge; the old code dies', async (t) => {
  const f = await fixture(t);
  const mfaToken = await passwordStep(f);
  const first = await sms(f).challenge('grant', mfaToken, 'app');
  const firstCode = f.hook.last().code;
  f.clock.advance(30_000);
  const err = await rejects(t, sms(f).challenge('grant', mfaToken, 'app'), 'rate_limited', 'a resend within a minute');
  t.equal(err.extra?.retry_after, '30');
  t.equal(f.hook.messages.length, 1, 'no second SMS');
  f.clock.advance(30_000);
  const second = await sms(f).challenge('grant', mfaToken, 'app');
  t.equal(f.hook.messages.length, 2);
  await rejects(t, mfaOob(f, { mfa_token: mfaToken, code: first.oobCode, binding_code: firstCode }), 'invalid_oob_code', 'the replaced oob_code is dead');
  const tokens = await mfaOob(f, { mfa_token: mfaToken, code: second.oobCode, binding_code: f.hook.last().code });
  t.ok(tokens.access_token);
});

t.test('daily cap per phone', async (t) => {
  const f = await fixture(t);
  for (let i = 0; i < 4; i++) {
    const token = await passwordStep(f);
    await sms(f).challenge('grant', token, 'app');
  }
  const token = await passwordStep(f);
  const err = await rejects(t, sms(f).challenge('grant', token, 'app'), 'rate_limited', 'the fifth SMS of the day');
  t.equal(err.detail, 'daily sms limit reached');
  t.equal(err.extra?.retry_after, String(12 * 3600), 'until the next (UTC) day');
  t.equal(f.hook.messages.length, 4);
  t.ok(f.warnings.some((w) => w.msg.includes('daily SMS limit')), 'logged for the operator');
  f.clock.advance(12 * 3600 * 1000);
  const next = await passwordStep(f);
  await sms(f).challenge('grant', next, 'app');
  t.equal(f.hook.messages.length, 5, 'a new day, a new allowance');
});

t.test('webhook failure and timeout: a clear error, nothing stored, retry allowed at once', async (t) => {
  const f = await fixture(t);
  const mfaToken = await passwordStep(f);
  f.hook.mode = 'fail';
  await rejects(t, sms(f).challenge('grant', mfaToken, 'app'), 'delivery_failed', 'HTTP 500 from the SMS gateway');
  f.hook.mode = 'hang';
  const started = process.hrtime.bigint();
  const err = await rejects(t, sms(f).challenge('grant', mfaToken, 'app'), 'delivery_failed', 'a gateway that never answers');
  t.match(String(err.cause), /did not answer within 2000 ms/);
  t.ok(process.hrtime.bigint() - started < 5_000_000_000n, 'bounded by the timeout (2 s here, loose enough for a busy CI machine), not hanging');
  f.hook.mode = 'ok';
  const sent = await sms(f).challenge('grant', mfaToken, 'app');
  t.ok(sent.oobCode, 'the retry goes through without waiting for the resend interval');
});

t.test('handles are bound to their kind and client', async (t) => {
  const f = await fixture(t);
  const mfaToken = await passwordStep(f);
  await rejects(t, sms(f).challenge('grant', mfaToken, 'other'), 'invalid_oob_code', "another client's mfa_token");
  await rejects(t, sms(f).challenge('interaction', mfaToken, 'app'), 'invalid_oob_code', 'an mfa_token is not a p_state');
  await rejects(t, sms(f).challenge('grant', 'not a handle!', 'app'), 'invalid_oob_code', 'garbage');
  const sent = await sms(f).challenge('grant', mfaToken, 'app');
  await rejects(t, mfaOob(f, { mfa_token: mfaToken, code: sent.oobCode, binding_code: f.hook.last().code }, 'mfa_oob', 'other'), 'invalid_oob_code', "redeemed by another client");
  await rejects(t, mfaOob(f, { mfa_token: mfaToken, binding_code: '1' }), 'missing_parameter', 'code missing');
  await rejects(t, mfaOob(f, { code: sent.oobCode, binding_code: '1' }), 'missing_parameter', 'mfa_token missing');
  await rejects(t, mfaOob(f, { mfa_token: mfaToken, code: sent.oobCode }), 'missing_parameter', 'binding_code missing');
  await rejects(t, mfaOob(f, { mfa_token: mfaToken, code: sent.oobCode, oob_code: 'x', binding_code: '1' }), 'invalid_parameter', 'code and oob_code disagree');
});

t.test('the store never holds a handle or a code in clear', async (t) => {
  const f = await fixture(t);
  const mfaToken = await passwordStep(f);
  const sent = await sms(f).challenge('grant', mfaToken, 'app');
  const digits = f.hook.last().code;
  const redis = new Redis(testRedisUrl());
  t.teardown(() => redis.quit());
  const keys = await redis.keys(`${f.prefix}*`);
  t.ok(keys.some((k) => k.includes('mfach:')), 'a challenge is stored');
  for (const k of keys) {
    const type = await redis.type(k);
    const value = type === 'string' ? ((await redis.get(k)) ?? '') : (await redis.smembers(k)).join(' ');
    const where = `${k}`;
    t.notOk(k.includes(mfaToken) || value.includes(mfaToken), `no mfa_token in ${where}`);
    t.notOk(k.includes(sent.oobCode) || value.includes(sent.oobCode), `no oob_code in ${where}`);
    t.notOk(value.includes(`"${digits}"`) || value === digits, `no SMS code in ${where}`);
  }
});

t.test('log sender: the code at warn level, marked development-only', async (t) => {
  const entries: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const sender = new LogSmsSender({ warn: (obj, msg) => entries.push({ obj: obj as Record<string, unknown>, msg }) });
  await sender.send({ phone: '+8613800001111', code: '123456', purpose: 'login', expiresIn: 300 });
  t.equal(entries.length, 1);
  t.equal(entries[0]!.obj.smsDevelopmentOnly, true);
  t.equal(entries[0]!.obj.phone, '+86138****1111', 'the phone is masked');
  t.match(entries[0]!.msg, /^DEVELOPMENT ONLY .*123456/);
});
