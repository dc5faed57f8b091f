import t from 'tap';
import { configFromYaml, pointerToPath, substituteEnv } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/validate.js';

const problemsOf = (yaml: string, env: NodeJS.ProcessEnv = {}) => {
  try {
    configFromYaml(yaml, env);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
};

t.test('the shipped example config is valid', async (t) => {
  const { loadConfigFile } = await import('../../src/config/load.js');
  const c = loadConfigFile('config/menshen.yaml', {});
  t.equal(c.store.type, 'memory');
  t.equal(c.provider?.issuer, 'http://127.0.0.1:8080/idp');
  t.ok(Object.isFrozen(c.gateway!.routes[0]), 'config is deep-frozen');
});

t.test('defaults fill in', async (t) => {
  const c = configFromYaml('server: {}\n', {});
  t.equal(c.server.listen, '0.0.0.0:8080');
  t.equal(c.store.redis.keyPrefix, 'menshen:');
  t.equal(c.server.trustProxy, false);
});

t.test('env substitution', async (t) => {
  const problems: { path: string; message: string }[] = [];
  t.same(substituteEnv({ a: '${X}', b: 'p-${Y:-dflt}-s', c: ['${X}'] }, { X: 'x' }, problems), { a: 'x', b: 'p-dflt-s', c: ['x'] });
  t.same(problems, []);
  substituteEnv({ a: { b: '${MISSING}' } }, {}, problems);
  t.equal(problems[0]?.path, 'a.b');
  t.match(problems[0]?.message, /MISSING is not set/);
});

t.test('json pointer to yaml path', async (t) => {
  t.equal(pointerToPath('/gateway/routes/2/upstream'), 'gateway.routes[2].upstream');
  t.equal(pointerToPath(''), '(root)');
});

t.test('every problem is listed by YAML path', async (t) => {
  const problems = problemsOf(`
server: { listen: nope, publicUrl: foo }
store: { type: redis, redis: {} }
gateway:
  session: { secret: short }
  routes:
    - { name: a, upstream: ftp://x, match: { pathPrefix: /_menshen/x } }
    - { name: a, upstream: http://x, bogus: 1 }
`);
  for (const want of [
    'server.listen: must be host:port',
    'server.publicUrl: must be an absolute http(s) URL',
    'store.redis: set exactly one of url, sentinel, cluster',
    'gateway.session.secret: must be at least 32 bytes',
    'gateway.routes[0].upstream: must be an absolute http(s) URL',
    "gateway.routes[1].name: duplicate route name 'a'",
    'gateway.routes[1].bogus: unexpected property',
  ])
    t.ok(problems.includes(want), want);
  t.ok(problems.some((p) => p.startsWith('gateway.routes[0].match.pathPrefix')), 'reserved /_menshen prefix');
});

t.test('a route may not shadow the provider mount', async (t) => {
  const base = `
provider:
  issuer: https://gw.example.com/idp
  clients: [{ clientId: demo, clientSecret: aaaaaaaaaaaaaaaaaaaa, redirectUris: [https://gw.example.com/_menshen/callback] }]
gateway:
  session: { secret: 0123456789abcdef0123456789abcdef }
  routes:
`;
  t.same(problemsOf(base + '    - { name: root, upstream: http://app:80, match: { pathPrefix: / } }'), [], 'a catch-all route is fine');
  t.match(problemsOf(base + '    - { name: x, upstream: http://app:80, match: { pathPrefix: /idp/oauth2 } }')[0], /overlaps the provider mount '\/idp'/);
  t.same(
    problemsOf(base.replace('issuer: https://gw.example.com/idp', 'issuer: https://gw.example.com/idp\n  hosts: [sso.example.com]') + '    - { name: x, upstream: http://app:80, match: { pathPrefix: /idp } }'),
    [],
    'fine when the provider has its own host',
  );
});

t.test('unset variable without default is a problem', async (t) => {
  t.match(problemsOf('gateway:\n  session: { secret: "${NOPE}" }\n'), ['gateway.session.secret: environment variable NOPE is not set (use ${NOPE:-default} for a default)']);
});

t.test('route paths and header names are checked at start', async (t) => {
  const problems = problemsOf(`
provider:
  issuer: https://gw.example.com/idp
  clients: [{ clientId: demo, clientSecret: aaaaaaaaaaaaaaaaaaaa, redirectUris: [https://gw.example.com/_menshen/callback] }]
gateway:
  session: { secret: 0123456789abcdef0123456789abcdef }
  routes:
    - name: a
      upstream: http://app:80
      match: { pathPrefix: "app" }
      publicPaths: ["/static/%2f", "nope"]
      headers: { "Bad Header": "{sub}", Host: "{sub}" }
`);
  t.ok(problems.some((p) => p.startsWith('gateway.routes[0].match.pathPrefix: must be a plain absolute path')), 'relative prefix');
  t.ok(problems.some((p) => p.startsWith('gateway.routes[0].publicPaths[0]: must be a plain absolute path')), 'encoded slash');
  t.ok(problems.some((p) => p.startsWith('gateway.routes[0].publicPaths[1]')), 'relative public path');
  t.ok(problems.includes('gateway.routes[0].headers.Bad Header: header name is not a valid HTTP header name'));
  t.ok(problems.includes('gateway.routes[0].headers.Host: header name is reserved by HTTP and cannot carry identity'));
});

t.test('with SMS MFA on, a client with the password grant needs mfa_oob (else MFA users can never finish)', async (t) => {
  const config = (sms: boolean) => `
provider:
  issuer: https://gw.example.com/idp
  mfa: { sms: { enabled: ${sms} } }
  clients:
    - { clientId: a, clientSecret: aaaaaaaaaaaaaaaaaaaa, grants: [password] }
    - { clientId: b, clientSecret: aaaaaaaaaaaaaaaaaaaa, grants: [password, mfa_oob] }
    - { clientId: c, clientSecret: aaaaaaaaaaaaaaaaaaaa, redirectUris: ["https://app.example.com/cb"], grants: [authorization_code] }
`;
  t.same(problemsOf(config(true)), ['provider.clients[0].grants: needs mfa_oob when provider.mfa.sms.enabled and the client has password']);
  t.same(problemsOf(config(false)), [], 'MFA off: nothing to finish');
});

t.test('a choice lists its allowed values', async (t) => {
  t.same(problemsOf('store: { type: mongo }\n'), ['store.type: must be one of: memory, redis']);
});

t.test('grants that need a secret or a redirect URI', async (t) => {
  const problems = problemsOf(`
provider:
  issuer: https://gw.example.com/idp
  clients:
    - { clientId: pub, grants: [token_exchange, client_credentials] }
    - { clientId: imp, clientSecret: aaaaaaaaaaaaaaaaaaaa, grants: [implicit] }
`);
  t.ok(problems.includes('provider.clients[0].grants: token_exchange needs a clientSecret'));
  t.ok(problems.includes('provider.clients[0].grants: client_credentials needs a clientSecret'));
  t.ok(problems.includes('provider.clients[1].redirectUris: implicit needs at least one redirect URI'));
});
