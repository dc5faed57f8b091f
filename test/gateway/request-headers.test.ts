/**
 * What the client's request headers become upstream, beyond identity: hop-by-hop headers (which
 * undici refused, turning every such request into a 502) are dropped, Expect: 100-continue is
 * answered by the gateway, and no client spelling of a forwarding header (X_Forwarded_For,
 * Forwarded, X-Real-IP, X-Original-URL ...) reaches the upstream: only the gateway's own
 * X-Forwarded-For/-Proto/-Host. Requests are written byte for byte on a socket.
 */
import t from 'tap';
import { connect } from 'node:net';
import { startStack, type Stack } from './helpers/stack.js';
import { hopByHopNames, isForwardingHeader, foldHeaderName } from '../../src/gateway/headers.js';

/** Writes `head` (+ body) on a fresh connection; resolves with the whole response once the server closes it. */
function send(stack: Stack, head: string, body = ''): Promise<{ status: number; head: string; body: string }> {
  const u = new URL(stack.base);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname);
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('utf8')));
    s.on('error', reject);
    s.on('end', () => {
      // Skip an interim 100 Continue: the final response follows it.
      const final = got.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(final)?.[1] ?? 0);
      const split = final.indexOf('\r\n\r\n');
      const raw = final.slice(split + 4);
      resolve({ status, head: final.slice(0, split), body: /^transfer-encoding: chunked$/im.test(final.slice(0, split)) ? dechunk(raw) : raw });
    });
    s.write(`${head.replace(/\n/g, '\r\n')}Host: ${u.host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n${body}`);
  });
}

function dechunk(raw: string): string {
  let out = '';
  let rest = raw;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, eol), 16);
    if (!size) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

const echo = (r: { body: string }) => JSON.parse(r.body) as { method: string; url: string; headers: Record<string, string>; body: string };

t.test('hop-by-hop request headers are dropped, not refused', async (t) => {
  const stack = await startStack(t, { store: 'memory' });
  const cases: Array<[string, string, string]> = [
    ['Keep-Alive', 'GET /open/ka HTTP/1.1\nKeep-Alive: timeout=5\n', ''],
    ['a bare Upgrade', 'GET /open/up HTTP/1.1\nUpgrade: h2c\n', ''],
    ['Proxy-Connection', 'GET /open/pc HTTP/1.1\nProxy-Connection: keep-alive\n', ''],
    ['TE', 'GET /open/te HTTP/1.1\nTE: trailers, deflate\n', ''],
    ['Expect: 100-continue', 'POST /open/upload HTTP/1.1\nContent-Type: text/plain\nContent-Length: 5\nExpect: 100-continue\n', 'hello'],
    ['chunked body', 'POST /open/chunked HTTP/1.1\nContent-Type: text/plain\nTransfer-Encoding: chunked\n', '5\r\nhello\r\n0\r\n\r\n'],
  ];
  for (const [why, head, body] of cases) {
    const res = await send(stack, head, body);
    t.equal(res.status, 200, why);
    const seen = echo(res).headers;
    for (const name of ['keep-alive', 'upgrade', 'proxy-connection', 'te', 'expect', 'trailer']) t.notOk(name in seen, `${why}: no ${name} upstream`);
    if (body) t.equal(echo(res).body, 'hello', `${why}: the body arrives`);
  }
  // send() waits for the server to close: the client's Connection: close must win over the
  // upstream's own Connection/Keep-Alive, which describe the gateway's pooled connection.
  const closed = await send(stack, 'GET /open/close HTTP/1.1\n');
  t.match(closed.head, /^connection: close$/im, "the client's Connection: close is honoured");
  t.notMatch(closed.head, /^keep-alive:/im, "the upstream's Keep-Alive is not passed on");
  const listed = await send(stack, 'GET /open/listed HTTP/1.1\nX-Hop: 1\nX-Keep: 2\nConnection: X-Hop\n');
  t.equal(listed.status, 200);
  t.notOk('x-hop' in echo(listed).headers, 'a header named in Connection is hop-by-hop too');
  t.equal(echo(listed).headers['x-keep'], '2');
});

t.test('no client spelling of a forwarding header reaches the upstream', async (t) => {
  const stack = await startStack(t, { store: 'memory' });
  const spoofs = [
    'X_Forwarded_For: 6.6.6.6',
    'X.Forwarded.Host: evil.example',
    'X_Forwarded_Proto: https',
    'x-forwarded-port: 443',
    'X-Forwarded-Prefix: /evil',
    'X-Forwarded-Server: evil.example',
    'Forwarded: for=6.6.6.6;host=evil.example;proto=https',
    'X-Real-IP: 6.6.6.6',
    'X_Real_IP: 6.6.6.6',
    'X-Client-IP: 6.6.6.6',
    'True-Client-IP: 6.6.6.6',
    'X-Original-URL: /admin',
    'X-Original-URI: /admin',
    'X-Rewrite-URL: /admin',
  ];
  const res = await send(stack, `GET /open/fwd HTTP/1.1\n${spoofs.join('\n')}\n`);
  t.equal(res.status, 200);
  const h = echo(res).headers;
  for (const [name, value] of Object.entries(h)) t.notMatch(value, /6\.6\.6\.6|evil|\/admin|^443$/, `${name} is not the client's`);
  t.same(
    Object.keys(h).filter((n) => isForwardingHeader(foldHeaderName(n))).sort(),
    ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto'],
    "only the gateway's three",
  );
  t.equal(h['x-forwarded-for'], '127.0.0.1');
  t.equal(h['x-forwarded-host'], new URL(stack.base).host);
});

t.test('hopByHopNames and isForwardingHeader tables', async (t) => {
  t.same([...hopByHopNames(undefined)].sort(), ['connection', 'expect', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
  const listed = hopByHopNames('keep-alive, X-Foo,,Host ');
  t.ok(listed.has('x-foo'));
  t.notOk(listed.has('host'), "Host is never the client's to drop");
  t.ok(hopByHopNames(['close', 'X-A']).has('x-a'));
  const rows: Array<[string, boolean]> = [
    ['x-forwarded-for', true],
    ['x-forwarded-anything', true],
    ['forwarded', true],
    ['x-real-ip', true],
    ['x-original-url', true],
    ['x-rewrite-url', true],
    ['x-forwardedfor', false],
    ['x-request-id', false],
    ['authorization', false],
  ];
  for (const [name, want] of rows) t.equal(isForwardingHeader(name), want, name);
});
