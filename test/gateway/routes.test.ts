/** Route matching and public paths as tables: which route owns each (Host, path), and why. */
import t from 'tap';
import type { RouteConfig } from '../../src/config/schema.js';
import { AmbiguousRoute, compileRoutes, isPublicPath, normalizeHost, RouteCompileError, type RouteTable } from '../../src/gateway/routes.js';
import { normalizePath, splitUrl } from '../../src/gateway/path.js';

function route(name: string, pathPrefix: string, host?: string, publicPaths: string[] = []): RouteConfig {
  return {
    name,
    match: { pathPrefix, ...(host !== undefined ? { host } : {}) },
    upstream: 'http://127.0.0.1:1',
    auth: 'required',
    allow: { groups: [], users: [], claims: {} },
    publicPaths,
    headers: {},
    passAccessToken: false,
    websocket: false,
  };
}

const table = compileRoutes([
  route('root', '/'),
  route('app', '/app'),
  route('app-admin', '/app/admin/'),
  route('crm', '/', 'CRM.example.com'),
  route('crm-api', '/api', 'crm.example.com'),
  route('any-api', '/api'),
  route('any-api-v2', '/api/v2'),
  route('crm-api-shadow', '/api', 'crm.example.com'),
  route('ipv6', '/', '[::1]'),
  route('dotted', '/dotted/', undefined),
  route('wiki', '/wiki/D.C.'),
]);

/** The matched route's name, null for none, 'AMBIGUOUS' when the literal and folded spellings disagree. */
function matched(table: RouteTable, host: string, path: string): string | null {
  try {
    return table.match(host, path)?.name ?? null;
  } catch (err) {
    if (err instanceof AmbiguousRoute) return 'AMBIGUOUS';
    throw err;
  }
}

t.test('match table', async (t) => {
  const rows: [host: string, path: string, want: string | null][] = [
    ['gw.example.com', '/', 'root'],
    ['gw.example.com', '/anything', 'root'],
    // segment-aware prefixes
    ['gw.example.com', '/app', 'app'],
    ['gw.example.com', '/app/', 'app'],
    ['gw.example.com', '/app/x/y', 'app'],
    ['gw.example.com', '/apple', 'root'],
    ['gw.example.com', '/app-x', 'root'],
    // longest prefix wins; a prefix with a trailing slash also owns its bare directory name
    ['gw.example.com', '/app/admin', 'app-admin'],
    ['gw.example.com', '/app/admin/', 'app-admin'],
    ['gw.example.com', '/app/admin/users', 'app-admin'],
    ['gw.example.com', '/app/administrator', 'app'],
    // case and trailing dots: as written the root route, folded the app routes: refused
    ['gw.example.com', '/APP/admin', 'AMBIGUOUS'],
    ['gw.example.com', '/App', 'AMBIGUOUS'],
    ['gw.example.com', '/app.', 'AMBIGUOUS'],
    ['gw.example.com', '/app./admin/', 'AMBIGUOUS'],
    ['gw.example.com', '/app/Admin', 'AMBIGUOUS'],
    ['gw.example.com', '/app/admin./x', 'AMBIGUOUS'],
    ['gw.example.com', '/app/admin%20/x', 'AMBIGUOUS'],
    ['gw.example.com', '/app/x/Admin', 'app'], // deeper segments fold too, but no other route is there
    ['gw.example.com', '/App.x', 'root'],
    // host-specific routes
    ['crm.example.com', '/', 'crm'],
    ['crm.example.com', '/app', 'app'], // a longer any-host prefix beats a shorter host prefix
    ['crm.example.com', '/api', 'crm-api'], // same length: the host-specific route wins
    ['crm.example.com', '/api/x', 'crm-api'],
    ['crm.example.com', '/api/v2/x', 'any-api-v2'],
    ['other.example.com', '/api/x', 'any-api'],
    ['other.example.com', '/apix', 'root'],
    // host spellings
    ['CRM.EXAMPLE.COM', '/api', 'crm-api'],
    ['crm.example.com:443', '/api', 'crm-api'],
    ['Crm.Example.Com:8443', '/x', 'crm'],
    ['crm.example.com.', '/x', 'crm'],
    ['crm.example.com.evil.com', '/x', 'root'],
    ['evil.crm.example.com', '/x', 'root'],
    ['', '/x', 'root'],
    ['[::1]:8080', '/x', 'ipv6'],
    ['[::1]', '/x', 'ipv6'],
    // configured names are matched as written, dots and all
    ['gw.example.com', '/dotted', 'dotted'],
    ['gw.example.com', '/wiki/D.C.', 'wiki'],
    ['gw.example.com', '/wiki/D.C./x', 'wiki'],
    ['gw.example.com', '/wiki/d.c..', 'AMBIGUOUS'],
    ['gw.example.com', '/wiki/D.C', 'AMBIGUOUS'],
  ];
  for (const [host, path, want] of rows) {
    t.equal(matched(table, host, path), want, `${host} ${path}`);
  }
});

t.test('case and trailing-dot spellings of a protected prefix (IIS, case-insensitive routers)', async (t) => {
  // Without a catch-all, a folded spelling is simply the protected route: no other reading exists.
  const only = compileRoutes([route('admin', '/admin'), route('app', '/app/')]);
  for (const path of ['/admin/secret', '/Admin/secret', '/ADMIN/secret', '/admin./secret', '/Admin../secret', '/admin%20/secret', '/admin.%20./secret', '/ADMIN', '/admin.'])
    t.equal(matched(only, 'h', path), 'admin', path);
  t.equal(matched(only, 'h', '/APP/x'), 'app');
  t.equal(matched(only, 'h', '/adminx/secret'), null, 'still segment-aware');
  t.equal(matched(only, 'h', '/admin.x/secret'), null, 'only trailing dots fold');

  // Beside an open catch-all: the review's bypass ('/Admin/secret' served by the auth: none route).
  const beside = compileRoutes([route('site', '/'), route('admin', '/admin')]);
  t.equal(matched(beside, 'h', '/admin/secret'), 'admin');
  for (const path of ['/Admin/secret', '/ADMIN/secret', '/admin./secret', '/admin%20/secret', '/.../admin/secret'])
    t.not(matched(beside, 'h', path), 'site', `${path} never goes to the open route`);
  t.equal(matched(beside, 'h', '/Admin/secret'), 'AMBIGUOUS');
  t.equal(matched(beside, 'h', '/about'), 'site');
  t.equal(matched(beside, 'h', '/About'), 'site', 'case variants elsewhere stay on their route');

  // Prefixes configured in another case are folded too.
  const upper = compileRoutes([route('legacy', '/Legacy/App')]);
  t.equal(matched(upper, 'h', '/legacy/app/x'), 'legacy');
  t.equal(matched(upper, 'h', '/Legacy/App/x'), 'legacy');
});

t.test('equal routes: the first in the config wins', async (t) => {
  t.equal(table.match('crm.example.com', '/api')?.name, 'crm-api');
});

t.test('no route: null', async (t) => {
  const only = compileRoutes([route('app', '/app'), route('crm', '/', 'crm.example.com')]);
  t.equal(only.match('gw.example.com', '/'), null);
  t.equal(only.match('gw.example.com', '/apple'), null);
  t.equal(only.match('gw.example.com', '/app/x')?.name, 'app');
  t.equal(only.match('crm.example.com', '/apple')?.name, 'crm');
  t.equal(compileRoutes([]).match('x', '/'), null);
});

t.test('compiled routes expose normalized prefix and host', async (t) => {
  const [r] = compileRoutes([route('a', '//app/./x/../', 'A.Example.COM:80')]).routes;
  t.equal(r?.prefix, '/app/');
  t.equal(r?.host, 'a.example.com');
  t.equal(r?.name, 'a');
  t.equal(compileRoutes([route('b', '/b')]).routes[0]?.host, null);
});

t.test('unnormalizable prefixes and public paths are config errors', async (t) => {
  t.throws(() => compileRoutes([route('bad', '/a%2fb')]), RouteCompileError);
  t.throws(() => compileRoutes([route('bad', '/a;b')]), /route 'bad': routes\[0\]\.match\.pathPrefix: ';' path parameter/);
  t.throws(() => compileRoutes([route('bad', '/', undefined, ['/ok', '/../x'])]), /publicPaths\[1\].*above the root/);
});

t.test('every path trick against a protected prefix beside a public one', async (t) => {
  const routes = compileRoutes([route('public', '/public'), route('admin', '/admin')]);
  const tricks = [
    '/public/../admin',
    '/public/%2e%2e/admin',
    '/public/%2E%2e/admin',
    '/public//../admin',
    '//admin',
    '/./admin',
    '/public/./../admin/',
    '/%61dmin',
    '/public%23/../admin',
  ];
  for (const raw of tricks) {
    const { rawPath } = splitUrl(raw);
    const n = normalizePath(rawPath);
    t.ok(n.ok, `${raw} normalizes`);
    if (n.ok) t.equal(routes.match('h', n.path)?.name, 'admin', `${raw} -> ${n.path} is the admin route`);
  }
  const refusedTricks = ['/public%2f..%2fadmin', '/public\\..\\admin', '/public/..;/admin', '/public%252f..%252fadmin', '/public/%5c../admin'];
  for (const raw of refusedTricks) t.equal(normalizePath(splitUrl(raw).rawPath).ok, false, `${raw} is refused before matching`);
  const fragment = normalizePath(splitUrl('/public#/../admin').rawPath);
  t.same(fragment, { ok: true, path: '/public' }, 'a fragment never moves the path');
  if (fragment.ok) t.equal(routes.match('h', fragment.path)?.name, 'public');
});

t.test('isPublicPath table', async (t) => {
  const r = compileRoutes([route('app', '/', undefined, ['/static/', '/favicon.ico', '/health', '//assets/./img/'])]).routes[0]!;
  const rows: [string, boolean][] = [
    ['/static/', true],
    ['/static/app.js', true],
    ['/static/a/b/c.css', true],
    ['/static', false], // '/static/' was configured: the directory's contents, not the bare name
    ['/staticky', false],
    ['/staticky/x', false],
    ['/favicon.ico', true],
    ['/favicon.ico/x', true],
    ['/favicon.icon', false],
    ['/favicon.ic', false],
    ['/health', true],
    ['/health/', true],
    ['/healthz', false],
    ['/assets/img/x.png', true], // configured spelling normalized to '/assets/img/'
    ['/assets/img', false],
    ['/', false],
    ['/app/static/x', false],
    ['/STATIC/x', false],
  ];
  for (const [path, want] of rows) t.equal(isPublicPath(r, path), want, path);
  const none = compileRoutes([route('n', '/')]).routes[0]!;
  t.equal(isPublicPath(none, '/static/x'), false, 'no public paths: nothing is public');
  const all = compileRoutes([route('all', '/', undefined, ['/'])]).routes[0]!;
  t.equal(isPublicPath(all, '/anything/at/all'), true, "'/' makes the whole route public");
});

t.test('a public path is decided on the normalized path, never the raw one', async (t) => {
  const r = compileRoutes([route('app', '/', undefined, ['/static/'])]).routes[0]!;
  for (const raw of ['/static/../admin', '/static/%2e%2e/admin', '/static//..//admin']) {
    const n = normalizePath(raw);
    t.ok(n.ok && !isPublicPath(r, n.path), `${raw} is not public`);
  }
});

t.test('normalizeHost', async (t) => {
  const rows: [string | undefined, string][] = [
    ['Example.COM', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['example.com.', 'example.com'],
    ['EXAMPLE.com.:443', 'example.com'],
    ['[::1]:8080', '[::1]'],
    ['[2001:DB8::1]', '[2001:db8::1]'],
    ['127.0.0.1:3000', '127.0.0.1'],
    ['', ''],
    [undefined, ''],
  ];
  for (const [host, want] of rows) t.equal(normalizeHost(host), want, String(host));
});
