/**
 * Which host a request is for, read one way everywhere (trust.ts): a trusted proxy's
 * X-Forwarded-Host by its last entry (the proxy's; a client's own copy comes first) for the HTTP
 * proxy, forward-auth and websocket upgrades alike, and IPv6 Host literals matched by name.
 */
import t from 'tap';
import { decodeJwt } from 'jose';
import { startStack } from './helpers/stack.js';
import { Browser } from './helpers/browser.js';
import { rawRequest, wsHandshake } from './helpers/raw.js';

t.test('X-Forwarded-Host: the last entry, the same for proxy, forward-auth and websockets', async (t) => {
  const stack = await startStack(t, {
    store: 'memory',
    server: '  trustProxy: ["127.0.0.1"]',
    routes: `
    - name: admin-host
      match: { host: admin.example, pathPrefix: / }
      upstream: "{{UP}}"
      allow: { users: [sub-alice] }
      websocket: true
    - name: open
      match: { pathPrefix: /open }
      upstream: "{{UP}}"
      auth: none
`,
  });
  const b = new Browser();
  await b.login(`${stack.base}/_menshen/login?rd=/open/x`, 'alice');
  const alice = `menshen=${b.cookie(stack.base, 'menshen')!}`;
  const api = (extra: Record<string, string>) => ({ accept: 'application/json', cookie: alice, ...extra });

  const fa = await rawRequest(stack.base, '/_menshen/auth', { headers: api({ 'x-forwarded-host': 'evil.example, admin.example', 'x-forwarded-uri': '/panel' }) });
  t.equal(fa.status, 200, 'forward-auth: the route of the last entry');
  t.equal(decodeJwt(String(fa.headers['x-menshen-assertion'])).aud, 'admin-host');
  const wrong = await rawRequest(stack.base, '/_menshen/auth', { headers: api({ 'x-forwarded-host': 'admin.example, evil.example', 'x-forwarded-uri': '/panel' }) });
  t.equal(wrong.status, 403, "forward-auth: a client's own first entry is not the host");

  const proxied = await rawRequest(stack.base, '/panel', { headers: api({ 'x-forwarded-host': 'evil.example, admin.example' }) });
  t.equal(proxied.status, 200, 'proxy: routed by the last entry');
  const seen = JSON.parse(proxied.body) as { headers: Record<string, string> };
  t.equal(seen.headers['x-forwarded-host'], 'admin.example', 'and that is what the upstream is told');

  t.match(await wsHandshake(stack.base, '/ws', { host: 'ignored.example' }), /^HTTP\/1\.1 404 /, 'no route for the Host itself');
  // An X-Forwarded-Host naming the admin host routes the upgrade there (no session: 401).
  const ws = await wsHandshake(stack.base, '/chat', { 'x-forwarded-host': 'evil.example, admin.example' });
  t.match(ws, /^HTTP\/1\.1 401 /, 'websocket: routed by the last entry too');
});

t.test('an IPv6 Host literal matches its route on websocket upgrades', async (t) => {
  const stack = await startStack(t, {
    store: 'memory',
    routes: `
    - name: v6
      match: { host: "[::1]", pathPrefix: / }
      upstream: "{{UP}}"
      auth: none
      websocket: true
`,
  });
  t.match(await wsHandshake(stack.base, '/feed', { host: '[::1]:8443' }), /^HTTP\/1\.1 101 /);
  t.match(await wsHandshake(stack.base, '/feed', { host: '127.0.0.1' }), /^HTTP\/1\.1 404 /, 'another host has no route');
  t.equal((await rawRequest(stack.base, '/page', { headers: { host: '[::1]:8443', accept: 'application/json' } })).status, 200, 'as for plain requests');
});
