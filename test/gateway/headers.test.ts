/** Strip-before-inject as tables: every spoofed spelling removed, injected values exact and safe. */
import t from 'tap';
import {
  IDENTITY_HEADERS,
  foldHeaderName,
  headerNameProblem,
  headerValue,
  identityHeaders,
  renderTemplate,
  stripCookies,
  stripIdentityHeaders,
} from '../../src/gateway/headers.js';
import type { Identity } from '../../src/gateway/policy.js';

const utf8 = (v: string | undefined) => (v === undefined ? undefined : Buffer.from(v, 'latin1').toString('utf8'));

t.test('IDENTITY_HEADERS lists every name the gateway sets, lowercase', async (t) => {
  t.same([...IDENTITY_HEADERS].sort(), [
    'x-auth-request-access-token',
    'x-auth-request-email',
    'x-auth-request-groups',
    'x-auth-request-preferred-username',
    'x-auth-request-user',
    'x-forwarded-access-token',
    'x-forwarded-email',
    'x-forwarded-groups',
    'x-forwarded-preferred-username',
    'x-forwarded-user',
    'x-menshen-assertion',
  ]);
  t.ok(Object.isFrozen(IDENTITY_HEADERS));
});

t.test('stripIdentityHeaders removes every spoofed spelling', async (t) => {
  // Node lowercases names it parses; these are the spellings that survive that and still fold
  // into an identity header somewhere downstream.
  const spoofed = [
    'x-auth-request-user',
    'x_auth_request_user',
    'x.auth.request.user',
    'X_Auth_Request_User',
    'x-AUTH-request-email',
    'x-auth_request.preferred-username',
    'x-auth-request-groups',
    'x-auth-request-access-token',
    'x-auth-request-redirect',
    'x-auth-request-anything-new',
    'x-forwarded-user',
    'X.Forwarded.User',
    'x_forwarded_email',
    'x-forwarded_groups',
    'x.forwarded-preferred_username',
    'x-forwarded-access-token',
    'x-menshen-assertion',
    'X_Menshen_Assertion',
    'x-menshen-future-header',
    'x-remote-user',
    'X_Remote.User',
    'authorization',
  ];
  const kept = {
    host: 'app.example.com',
    accept: 'text/html',
    'x-forwarded-for': '10.0.0.1',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'app.example.com',
    'x-request-id': 'abc',
    'x-user-agent': 'ua',
    'x-forwarded-user-agent': 'not an identity header',
    'x-auth': 'kept: not in the x-auth-request- family',
    cookie: 'a=1',
  };
  const input: Record<string, string | string[] | undefined> = { ...kept };
  for (const name of spoofed) input[name] = 'attacker';
  input['x-forwarded-user'] = ['attacker', 'attacker2'];
  const out = stripIdentityHeaders(input, ['X-Remote-User', 'authorization']);
  t.same(out, kept);
  t.not(out, input, 'a new object');
  t.equal(input['x-forwarded-user']?.[0], 'attacker', 'the input is not modified');
});

t.test('stripIdentityHeaders leaves authorization alone unless named', async (t) => {
  const out = stripIdentityHeaders({ authorization: 'Basic abc', 'x-forwarded-user': 'x' }, []);
  t.same(out, { authorization: 'Basic abc' });
  const named = stripIdentityHeaders({ Authorization: 'Basic abc' }, ['AUTHORIZATION']);
  t.same(named, {});
});

t.test('foldHeaderName', async (t) => {
  t.equal(foldHeaderName('X_Forwarded.User'), 'x-forwarded-user');
  t.equal(foldHeaderName('x-forwarded-user'), 'x-forwarded-user');
});

t.test('stripCookies table', async (t) => {
  const names = ['menshen', 'menshen_tx*'];
  const rows: [string | undefined, string | undefined][] = [
    [undefined, undefined],
    ['', undefined],
    ['menshen=abc', undefined],
    ['__Host-menshen=abc', undefined],
    ['__Secure-menshen=abc', undefined],
    ['MENSHEN=abc', undefined],
    ['__host-Menshen=abc', undefined],
    ['app=1; menshen=abc; other=2', 'app=1; other=2'],
    ['app=1;menshen=abc;other=2', 'app=1; other=2'],
    ['menshen=a; menshen=b; app=1', 'app=1'],
    ['menshen_tx_1=a; menshen_tx_2=b; app=1', 'app=1'],
    ['__Host-menshen_tx_abc=a', undefined],
    ['menshenx=1', 'menshenx=1'],
    ['x-menshen=1', 'x-menshen=1'],
    ['app=menshen=1', 'app=menshen=1'],
    ['app=1;  ; ', 'app=1'],
    ['flag', 'flag'],
    ['session=abc; JSESSIONID=xyz', 'session=abc; JSESSIONID=xyz'],
  ];
  for (const [input, want] of rows) t.equal(stripCookies(input, names), want, String(input));
});

t.test('renderTemplate table', async (t) => {
  const claims = {
    sub: 'u-1',
    preferred_username: 'alice',
    email: 'alice@example.com',
    groups: ['staff', 'eng'],
    level: 3,
    admin: false,
    address: { country: 'CN' },
    'x-dash': 'dash',
    mixed: ['a', 1, { no: 'objects' }, true],
    empty: null,
  };
  const rows: [string, string][] = [
    ['{preferred_username}', 'alice'],
    ['user={email},{sub}', 'user=alice@example.com,u-1'],
    ['{groups}', 'staff,eng'],
    ['{level}/{admin}', '3/false'],
    ['{address.country}', 'CN'],
    ['{address}', ''],
    ['{x-dash}', 'dash'],
    ['{mixed}', 'a,1,true'],
    ['{empty}', ''],
    ['{unknown}', ''],
    ['[{unknown}]', '[]'],
    ['plain text', 'plain text'],
    ['{}', '{}'],
    ['{not valid}', '{not valid}'],
    ['{a/b}', '{a/b}'],
    ['{{sub}}', '{u-1}'],
    ['{sub', '{sub'],
    ['{constructor}', ''],
    ['{__proto__}', ''],
  ];
  for (const [template, want] of rows) t.equal(renderTemplate(template, claims), want, template);
});

const alice: Identity = {
  sub: 'u-alice',
  preferred_username: 'alice',
  email: 'alice@example.com',
  groups: ['staff', 'eng'],
  claims: { department: 'sales', name: '张三', tenant: { id: 't1' } },
};

t.test('identityHeaders: the canonical set', async (t) => {
  t.same(identityHeaders(alice, {}), {
    'x-auth-request-user': 'u-alice',
    'x-auth-request-email': 'alice@example.com',
    'x-auth-request-preferred-username': 'alice',
    'x-auth-request-groups': 'staff,eng',
    'x-forwarded-user': 'u-alice',
    'x-forwarded-email': 'alice@example.com',
    'x-forwarded-groups': 'staff,eng',
    'x-forwarded-preferred-username': 'alice',
  });
});

t.test('identityHeaders: absent claims omit their headers', async (t) => {
  t.same(identityHeaders({ sub: 'u-bob', claims: {} }, {}), { 'x-auth-request-user': 'u-bob', 'x-forwarded-user': 'u-bob' });
  t.same(identityHeaders({ sub: 'u-bob', email: '', groups: [], preferred_username: '  ', claims: {} }, {}), {
    'x-auth-request-user': 'u-bob',
    'x-forwarded-user': 'u-bob',
  }, 'empty and blank values are omitted, not sent empty');
});

t.test('identityHeaders: templates and access token', async (t) => {
  const h = identityHeaders(
    alice,
    {
      'X-Remote-User': '{preferred_username}',
      'X-Dept': 'dept={department}',
      'X-Tenant': '{tenant.id}',
      'X-Missing': '{nope}',
      'X-Forwarded-User': '{email}',
      'Bad Name': '{sub}',
      Host: 'evil.example.com',
      'Content-Length': '0',
    },
    'at-123',
  );
  t.equal(h['x-remote-user'], 'alice');
  t.equal(h['x-dept'], 'dept=sales');
  t.equal(h['x-tenant'], 't1');
  t.notOk('x-missing' in h, 'a template that renders empty is omitted');
  t.equal(h['x-forwarded-user'], 'alice@example.com', 'a route template replaces a built-in of the same name');
  t.equal(h.authorization, 'Bearer at-123');
  t.notOk('bad name' in h || 'host' in h || 'content-length' in h, 'invalid and reserved names are never set');
  t.notOk('authorization' in identityHeaders(alice, {}), 'no token, no authorization header');
  t.notOk('authorization' in identityHeaders(alice, {}, ''), 'an empty token sends nothing');
});

t.test('identityHeaders: identity fields win over same-named raw claims in templates', async (t) => {
  const id: Identity = { sub: 'u-1', email: 'real@example.com', claims: { email: 'raw@evil.com', sub: 'other' } };
  const h = identityHeaders(id, { 'X-E': '{email}', 'X-S': '{sub}' });
  t.equal(h['x-e'], 'real@example.com');
  t.equal(h['x-s'], 'u-1');
});

t.test('identityHeaders: values are sanitized', async (t) => {
  const evil: Identity = {
    sub: 'u-1\r\nX-Injected: yes',
    email: 'a@b.com\u0000',
    preferred_username: 'tab\tuser\u007f',
    groups: ['a\nb', 'c', ''],
    claims: { note: 'x\r\ny' },
  };
  const h = identityHeaders(evil, { 'X-Note': '{note}' }, 'tok\r\nen');
  t.equal(h['x-auth-request-user'], 'u-1X-Injected: yes');
  t.equal(h['x-auth-request-email'], 'a@b.com');
  t.equal(h['x-auth-request-preferred-username'], 'tabuser');
  t.equal(h['x-auth-request-groups'], 'ab,c');
  t.equal(h['x-note'], 'xy');
  t.equal(h.authorization, 'Bearer token');
  for (const [name, value] of Object.entries(h)) {
    t.notMatch(value, /[\u0000-\u001f\u007f]/, `${name} has no control characters`);
    t.notMatch(value, /[^\u0000-\u00ff]/, `${name} is a byte string`);
  }
});

t.test('identityHeaders: non-ASCII travels as UTF-8 bytes', async (t) => {
  const id: Identity = { sub: 'u-1', preferred_username: '张三', groups: ['研发', 'staff'], claims: { city: 'Zürich' } };
  const h = identityHeaders(id, { 'X-City': '{city}' });
  t.equal(utf8(h['x-auth-request-preferred-username']), '张三');
  t.equal(utf8(h['x-forwarded-groups']), '研发,staff');
  t.equal(utf8(h['x-city']), 'Zürich');
  t.equal(headerValue('abc'), 'abc', 'ASCII is unchanged');
});

t.test('headerNameProblem', async (t) => {
  t.equal(headerNameProblem('X-Remote-User'), null);
  t.equal(headerNameProblem('x_weird.but~legal'), null);
  t.match(headerNameProblem('Bad Name'), /valid/);
  t.match(headerNameProblem('X-A:b'), /valid/);
  t.match(headerNameProblem(''), /valid/);
  t.match(headerNameProblem('X-Ü'), /valid/);
  for (const reserved of ['Host', 'content-length', 'Transfer-Encoding', 'Connection', 'Cookie', 'Upgrade'])
    t.match(headerNameProblem(reserved), /reserved/, reserved);
});
