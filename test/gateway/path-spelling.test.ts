/**
 * Case and trailing-dot spellings of a protected prefix beside an open catch-all, through real
 * listeners: the review's bypass was '/Admin/secret' served by the `auth: none` '/' route to an
 * upstream whose router ignores case. Such spellings are refused (400) without reaching the
 * upstream; paths that fold to a single route are proxied as written.
 */
import t from 'tap';
import { startStack } from './helpers/stack.js';
import { rawRequest } from './helpers/raw.js';

t.test('case and trailing-dot variants of a protected prefix never take the open route', async (t) => {
  const stack = await startStack(t, {
    store: 'memory',
    routes: `
    - name: site
      match: { pathPrefix: / }
      upstream: "{{UP}}"
      auth: none
    - name: admin
      match: { pathPrefix: /admin }
      upstream: "{{UP}}"
`,
  });
  const { base, upstream } = stack;
  const api = { accept: 'application/json' };
  const before = upstream.received.length;
  for (const path of ['/Admin/secret', '/ADMIN/secret', '/admin./secret', '/Admin../secret', '/admin%20/secret', '/.../admin/secret']) {
    const res = await rawRequest(base, path, { headers: api });
    t.equal(res.status, 400, path);
    const why = JSON.parse(res.body).error_description as string;
    t.match(why, /ambiguous/, `${path}: says why`);
    t.notMatch(why, /'(site|admin)'/, `${path}: without naming the configured routes`);
  }
  t.equal((await rawRequest(base, '/admin/secret', { headers: api })).status, 401, 'the protected route itself');
  t.equal(upstream.received.length, before, 'none of them reached the upstream');

  const about = await rawRequest(base, '/About/Us.', { headers: api });
  t.equal(about.status, 200, 'other case variants stay on their route');
  t.equal(JSON.parse(about.body).url, '/About/Us.', 'forwarded as written, never folded');
});

t.test("segments beginning or ending with '..' get a clean 400 of the gateway's own (a proxy-library limit)", async (t) => {
  const stack = await startStack(t, {
    store: 'memory',
    routes: `
    - name: site
      match: { pathPrefix: / }
      upstream: "{{UP}}"
      auth: none
`,
  });
  const { base, upstream } = stack;
  const before = upstream.received.length;
  for (const path of ['/..foo', '/a../b', '/a/.../b', '/%2e%2efoo/x']) {
    const res = await rawRequest(base, path, { headers: { accept: 'application/json' } });
    t.equal(res.status, 400, path);
    t.match(JSON.parse(res.body), { error: 'invalid_request', error_description: /begin or end with '\.\.'/ }, `${path}: says why`);
  }
  t.equal(upstream.received.length, before, 'nothing reached the upstream');
  const inner = await rawRequest(base, '/a..b/c', { headers: { accept: 'application/json' } });
  t.equal(inner.status, 200, "'..' inside a segment is fine");
  t.equal(JSON.parse(inner.body).url, '/a..b/c');
});
