/**
 * Logs: one JSON line per request with route, status, latency and the user's sub; no query
 * secret, header or cookie in it; redaction of credential fields; LOG_LEVEL.
 */
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { configFromYaml } from '../../src/config/load.js';
import { effectiveLevel, loggerOptions, sanitizeUrl } from '../../src/ops/logger.js';
import { LogLines } from './helpers.js';

async function appWithLogs(t: { teardown(fn: () => unknown): void }, level = 'info') {
  const logs = new LogLines();
  const app = await buildApp(configFromYaml('{}', {}), {
    logger: { ...(loggerOptions(level, false) as object), stream: logs.stream() },
  });
  // Test-only routes: one where a part of the app knows the user, one that fails.
  app.get('/as-user', async (req) => {
    req.userSub = 'user-7f3a';
    req.metricsRoute = 'legacy-crm';
    return { ok: true };
  });
  app.get('/boom', async () => {
    throw new Error('kaboom');
  });
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base, logs };
}

const requestLines = (logs: LogLines) => logs.lines.filter((l) => l.msg === 'request');

t.test('one line per request: route, method, status, latency, sub, masked query', async (t) => {
  const { base, logs } = await appWithLogs(t);
  const secretCookie = 'menshen=ticket-SECRET-cookie-value';
  await fetch(`${base}/as-user?code=CODE-SECRET&state=STATE-SECRET&page=2`, {
    headers: { authorization: 'Bearer BEARER-SECRET', cookie: secretCookie },
  });
  const lines = requestLines(logs);
  t.equal(lines.length, 1, 'exactly one line, not an "incoming" and a "completed" one');
  const line = lines[0]!;
  t.match(line, {
    level: 30,
    route: 'legacy-crm',
    method: 'GET',
    status: 200,
    sub: 'user-7f3a',
    url: '/as-user?code=***&state=***&page=2',
    remoteAddress: '127.0.0.1',
  });
  t.type(line.latencyMs, 'number');
  t.type(line.reqId, 'string', 'with the request id (also sent as x-request-id)');
  for (const secret of ['CODE-SECRET', 'STATE-SECRET', 'BEARER-SECRET', 'SECRET-cookie'])
    t.notOk(logs.raw.includes(secret), `${secret} is not logged`);
});

t.test('levels: probes at debug, 4xx at info, 5xx at error; 404s are one line too', async (t) => {
  const { base, logs } = await appWithLogs(t);
  await fetch(`${base}/healthz`);
  await fetch(`${base}/readyz`);
  await fetch(`${base}/missing?password=hunter2`);
  await fetch(`${base}/boom`);
  const lines = requestLines(logs);
  t.same(lines.map((l) => [l.url, l.status, l.level]), [
    ['/missing?password=***', 404, 30],
    ['/boom', 500, 50],
  ], 'successful probes are below info; the rest are one line each');
  t.notOk(logs.raw.includes('hunter2'));
  t.ok(logs.lines.some((l) => l.msg === 'unhandled error' && (l.err as { message?: string }).message === 'kaboom'), 'the cause of a 500 is logged');
});

t.test('at debug the probes are logged too', async (t) => {
  const { base, logs } = await appWithLogs(t, 'debug');
  await fetch(`${base}/healthz`);
  t.match(requestLines(logs), [{ route: '/healthz', status: 200, level: 20 }]);
});

t.test('at warn only failures are logged: the 4xx and 2xx lines are not written', async (t) => {
  const { base, logs } = await appWithLogs(t, 'warn');
  await fetch(`${base}/healthz`);
  await fetch(`${base}/missing`);
  await fetch(`${base}/boom`);
  t.same(requestLines(logs).map((l) => [l.url, l.status, l.level]), [['/boom', 500, 50]]);
});

t.test('credential fields are redacted wherever a part logs them', async (t) => {
  const { app, logs } = await appWithLogs(t);
  app.log.info(
    {
      password: 'PW-1',
      client_secret: 'CS-1',
      clientSecret: 'CS-2',
      secret: 'S-1',
      body: { password: 'PW-2', clientSecret: 'CS-3' },
      headers: { authorization: 'Basic AUTH-1', cookie: 'C-1' },
    },
    'something happened',
  );
  const line = logs.lines.find((l) => l.msg === 'something happened')!;
  t.ok(line, 'logged');
  for (const value of ['PW-1', 'PW-2', 'CS-1', 'CS-2', 'CS-3', 'S-1', 'AUTH-1', 'C-1']) t.notOk(logs.raw.includes(value), `${value} redacted`);
  t.equal(line.password, '[redacted]');
});

t.test('sanitizeUrl masks every credential parameter, in any case, and nothing else', async (t) => {
  const cases: Array<[string, string]> = [
    ['/cb?code=abc&state=xyz', '/cb?code=***&state=***'],
    ['/t?grant_type=password&username=alice&password=p%40ss', '/t?grant_type=password&username=alice&password=***'],
    ['/x?Access_Token=a&refresh_token=b&id_token_hint=c', '/x?Access_Token=***&refresh_token=***&id_token_hint=***'],
    ['/x?client_secret=s#frag', '/x?client_secret=***#frag'],
    ['/revoke?token=t&token_type_hint=refresh_token', '/revoke?token=***&token_type_hint=refresh_token'],
    ['/plain?page=2&encode=1', '/plain?page=2&encode=1'],
    ['/x?mfa_token=a&oob_code=b&binding_code=c&session_token=d&sso_ticket=e&p_state=f', '/x?mfa_token=***&oob_code=***&binding_code=***&session_token=***&sso_ticket=***&p_state=***'],
    // EIAM token exchange in the query string (T0): RFC 8693's tokens, their type URNs left readable.
    [
      '/auth/oauth2/token?grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=eyJ.live.sig&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token&actor_token=AT-1&actor_token_type=x&requested_token_type=y',
      '/auth/oauth2/token?grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=***&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token&actor_token=***&actor_token_type=x&requested_token_type=y',
    ],
    // Any name ending in token, secret or password, in any case; code and code_verifier.
    ['/x?csrf_token=a&APP_SECRET=b&old_password=c&New_Password=d', '/x?csrf_token=***&APP_SECRET=***&old_password=***&New_Password=***'],
    ['/t?code=c&code_verifier=v&grant_type=authorization_code', '/t?code=***&code_verifier=***&grant_type=authorization_code'],
    ['/x?tokens=1&token_type_hint=access_token&secretary=2&passwords_policy=3', '/x?tokens=1&token_type_hint=access_token&secretary=2&passwords_policy=3'],
    // Names as the server decodes them: percent-escapes and '+' do not hide a credential.
    ['/t?subject%5Ftoken=s&Actor%5FToken=a&client%5fsecret=c&bad%ZZtoken=b', '/t?subject%5Ftoken=***&Actor%5FToken=***&client%5fsecret=***&bad%ZZtoken=***'],
    // A credential inside another parameter's (unencoded) value is still found; values may hold '?'.
    ['/login?return=/cb?code=abc&x=1', '/login?return=/cb?code=***&x=1'],
    ['/t?password=a?b=c&user=u', '/t?password=***&user=u'],
    ['/t?subject_token=&x=1', '/t?subject_token=***&x=1'],
  ];
  for (const [input, want] of cases) t.equal(sanitizeUrl(input), want, input);
});

t.test('LOG_LEVEL overrides log.level when it names a level', async (t) => {
  t.equal(effectiveLevel('info', {}), 'info');
  t.equal(effectiveLevel('info', { LOG_LEVEL: 'DEBUG' }), 'debug');
  t.equal(effectiveLevel('warn', { LOG_LEVEL: '' }), 'warn');
  t.equal(effectiveLevel('info', { LOG_LEVEL: 'verbose' }), 'info', 'an unknown level is ignored (with a warning), not a crash');
});
