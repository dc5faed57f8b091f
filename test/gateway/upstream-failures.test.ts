/**
 * Upstreams that misbehave: a 503 is passed on once (never retried: retries pinned pool
 * connections until the gateway hung), a silent upstream is cut off by the headers timeout (504)
 * on plain requests and on websocket handshakes alike, and the gateway keeps serving afterwards.
 * An https upstream must present a certificate the gateway trusts (reply-from turned checks off).
 */
import t from 'tap';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack } from './helpers/stack.js';
import { rawRequest, wsHandshake } from './helpers/raw.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

/** An upstream answering 503 with a 256 KB maintenance page on /busy, 200 elsewhere; counts hits. */
async function busyUpstream(t: Teardownable): Promise<{ url: string; hits: string[] }> {
  const hits: string[] = [];
  const page = 'maintenance '.repeat(20_000);
  const server = createHttpServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url?.startsWith('/busy')) res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '0' }).end(page);
    else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, hits };
}

/** Accepts connections and never says a word. */
async function silentUpstream(t: Teardownable): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

t.test('an upstream 503 is answered once, not retried, and the pool keeps working', async (t) => {
  const busy = await busyUpstream(t);
  const stack = await startStack(t, {
    store: 'memory',
    routes: `
    - name: busy
      match: { pathPrefix: / }
      upstream: "${busy.url}"
      auth: none
`,
  });
  const api = { accept: 'application/json' };
  for (let i = 0; i < 3; i++) {
    const res = await rawRequest(stack.base, `/busy/${i}`, { headers: api });
    t.equal(res.status, 503, "the upstream's own status");
    t.match(res.body, /^maintenance /, "and its own page");
  }
  t.same(busy.hits, ['/busy/0', '/busy/1', '/busy/2'], 'each GET reached the upstream exactly once');
  const after = await Promise.all(Array.from({ length: 20 }, (_, i) => rawRequest(stack.base, `/ok/${i}`, { headers: api })));
  t.same([...new Set(after.map((r) => r.status))], [200], 'later requests are served');
});

t.test('a silent upstream gets 504 after the headers timeout, for HTTP and websocket handshakes', async (t) => {
  const silent = await silentUpstream(t);
  const stack = await startStack(t, {
    store: 'memory',
    gateway: '  upstreamTimeouts: { headers: 1 }',
    routes: `
    - name: silent
      match: { pathPrefix: / }
      upstream: "${silent}"
      auth: none
      websocket: true
`,
  });
  t.equal(stack.gw.app.menshen.config.gateway!.upstreamTimeouts.body, 300, 'the other bounds keep their defaults');
  const res = await rawRequest(stack.base, '/slow', { headers: { accept: 'application/json' } });
  t.equal(res.status, 504);
  t.equal((JSON.parse(res.body) as { error: string }).error, 'bad_gateway');
  t.match(await wsHandshake(stack.base, '/ws'), /^HTTP\/1\.1 504 /, 'the websocket handshake is bounded too');
});

t.test("an https upstream whose certificate is not trusted gets nothing: 502", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'menshen-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // A self-signed certificate that is otherwise right for 127.0.0.1.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  let hits = 0;
  const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => {
    hits++;
    res.end('secret');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const stack = await startStack(t, {
    store: 'memory',
    routes: `
    - name: tls
      match: { pathPrefix: / }
      upstream: "https://127.0.0.1:${(server.address() as { port: number }).port}"
      auth: none
`,
  });
  const res = await rawRequest(stack.base, '/x', { headers: { accept: 'application/json', 'x-auth-request-user': 'mallory' } });
  t.equal(res.status, 502, 'the certificate does not verify');
  t.equal(hits, 0, 'no request was sent over the unverified connection');
});
