/**
 * The proxy hop itself (src/gateway/upstream-client.ts): the upstream's answer is relayed byte for
 * byte and header for header (hop-by-hop ones dropped, the gateway's own added), large bodies
 * keep their backpressure, bodies of every framing reach the upstream, a client that leaves
 * stops the upstream work, an upstream that breaks mid-answer cuts the client off, and the
 * gateway keeps serving through all of it. Real listeners on 127.0.0.1 (auth: none routes: the
 * hop is the same for every route).
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { startStack } from './helpers/stack.js';
import { rawRequest } from './helpers/raw.js';
import { responseHeaders, failureStatus } from '../../src/gateway/upstream-client.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

const BIG = Buffer.alloc(8 * 1024 * 1024, 'menshen-');
const BIG_SHA = createHash('sha256').update(BIG).digest('hex');

/** An upstream with a route per behaviour; records how each streamed answer ended. */
async function trickyUpstream(t: Teardownable) {
  const ended: Record<string, 'finished' | 'closed early'> = {};
  const received: { url: string; headers: IncomingMessage['headers']; body: string }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const path = (req.url ?? '').replace(/^\/base/, '');
      if (path.startsWith('/big')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG.length) });
        res.end(BIG);
      } else if (path.startsWith('/headers')) {
        res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Path=/']);
        res.setHeader('X-App-Spelling', 'Kept');
        res.setHeader('Connection', 'keep-alive, X-Internal-Hop');
        res.setHeader('X-Internal-Hop', 'secret-to-the-hop');
        res.setHeader('Keep-Alive', 'timeout=99');
        res.end('headers');
      } else if (path.startsWith('/own-request-id')) {
        res.setHeader('x-request-id', 'from-the-app');
        res.end('id');
      } else if (path.startsWith('/endless')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => res.write('tick\n'), 5);
        res.on('close', () => {
          clearInterval(timer);
          ended.endless = res.writableFinished ? 'finished' : 'closed early';
        });
      } else if (path.startsWith('/slow')) {
        const timer = setTimeout(() => res.end('late'), 3000);
        res.on('close', () => clearTimeout(timer));
      } else if (path.startsWith('/early-hints')) {
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        res.end('after hints');
      } else if (path.startsWith('/chunked')) {
        res.writeHead(200, { 'content-type': 'text/plain' }); // no length: chunked
        res.write('part one, ');
        setTimeout(() => res.end('part two'), 10);
      } else {
        res.end(JSON.stringify({ url: req.url }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, ended, received };
}

/** A TCP upstream that answers each connection's first request with `answer(socket)`. */
async function tcpUpstream(t: Teardownable, answer: (s: Socket) => void): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('data', () => answer(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** Promises a Content-Length of 1,000 bytes, sends 10 and hangs up. */
const truncatingUpstream = (t: Teardownable) =>
  tcpUpstream(t, (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n0123456789');
    setTimeout(() => s.destroy(), 20);
  });

/** An upstream that answers every request with these bytes and closes. */
const rawUpstream = (t: Teardownable, answer: Buffer) => tcpUpstream(t, (s) => s.end(answer));

/** The status line and body of a GET, sent and read on a raw socket (nothing normalizes them). */
async function rawGet(base: string, path: string): Promise<string> {
  const u = new URL(base);
  const s = connect(Number(u.port), u.hostname);
  s.write(`GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`);
  let answer = '';
  s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  s.setTimeout(5000, () => s.destroy());
  await once(s, 'close');
  return answer;
}

/** A GET whose body arrives as raw bytes (the response is read slowly when `slow`). */
function getBytes(base: string, path: string, slow = false): Promise<{ status: number; body: Buffer }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    request({ host: u.hostname, port: u.port, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (slow) {
          res.pause(); // the gateway must wait for us, not buffer the upstream's 8 MB
          setTimeout(() => res.resume(), 1);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

t.test('the upstream answer is relayed exactly', async (t) => {
  const up = await trickyUpstream(t);
  const truncating = await truncatingUpstream(t);
  const stack = await startStack(t, {
    store: 'memory',
    routes: `
    - name: based
      match: { pathPrefix: /based }
      upstream: "${up.url}/base/"
      auth: none
    - name: broken
      match: { pathPrefix: /broken }
      upstream: "${truncating}"
      auth: none
    - name: open
      match: { pathPrefix: / }
      upstream: "${up.url}"
      auth: none
`,
  });
  const base = stack.base;

  t.test('8 MB bodies arrive intact, to fast and to slow readers', async (t) => {
    for (const slow of [false, true]) {
      const res = await getBytes(base, '/big', slow);
      t.equal(res.status, 200);
      t.equal(res.body.length, BIG.length, slow ? 'slow reader: every byte' : 'every byte');
      t.equal(createHash('sha256').update(res.body).digest('hex'), BIG_SHA, 'the same bytes');
    }
  });

  t.test("headers: the app's (repeated ones too) and the gateway's request id; hop-by-hop ones never", async (t) => {
    const res = await rawRequest(base, '/headers');
    t.equal(res.status, 200);
    t.same(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/'], 'both cookies');
    t.equal(res.headers['x-app-spelling'], 'Kept');
    t.equal(res.headers['x-internal-hop'], undefined, "a header the upstream's Connection names stays on its hop");
    t.not(res.headers['keep-alive'], 'timeout=99', "the upstream's Keep-Alive describes its own connection");
    t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/, "the gateway's request id");
    const own = await rawRequest(base, '/own-request-id');
    t.equal(own.headers['x-request-id'], 'from-the-app', "an app's own header of the same name wins (as before)");
  });

  t.test('a chunked answer and 103 Early Hints before the answer', async (t) => {
    const chunked = await rawRequest(base, '/chunked');
    t.equal(chunked.body, 'part one, part two');
    const hints = await rawRequest(base, '/early-hints');
    t.equal(hints.status, 200);
    t.equal(hints.body, 'after hints');
  });

  t.test("the upstream URL's own path is prefixed; the query string is passed as written", async (t) => {
    const res = await rawRequest(base, '/based/x/y?b=2&a=%201');
    t.equal((JSON.parse(res.body) as { url: string }).url, '/base/based/x/y?b=2&a=%201');
  });

  t.test('request bodies of every framing reach the upstream; a GET body does not', async (t) => {
    const u = new URL(base);
    // chunked, no Content-Length
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, method: 'POST', path: '/echo-chunked', headers: { 'content-type': 'text/plain' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write('first ');
      setTimeout(() => req.end('second'), 10);
    });
    t.equal(chunked, 200);
    const got = up.received.find((r) => r.url === '/echo-chunked')!;
    t.equal(got.body, 'first second');
    t.equal(got.headers['transfer-encoding'], 'chunked');
    // A GET that carries a body: fastify reads none, so none is forwarded and no length promised.
    const s = connect(Number(u.port), u.hostname);
    s.write(`GET /get-with-body HTTP/1.1\r\nHost: ${u.host}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`);
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    await once(s, 'close');
    t.match(answer, /^HTTP\/1\.1 200 /, 'answered, not refused');
    const getReq = up.received.find((r) => r.url === '/get-with-body')!;
    t.equal(getReq.headers['content-length'], undefined, 'no Content-Length upstream');
    t.equal(getReq.body, '');
  });

  t.test('a client that leaves stops the upstream answer', async (t) => {
    const u = new URL(base);
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, path: '/endless' }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.on('timeout', () => reject(new Error('no data')));
      req.end();
    });
    for (let i = 0; i < 200 && !up.ended.endless; i++) await new Promise((r) => setTimeout(r, 10));
    t.equal(up.ended.endless, 'closed early', 'the upstream response was closed, not left streaming');
    const metrics = await rawRequest(base, '/metrics');
    t.match(metrics.body, /^menshen_http_in_flight_requests 1$/m, 'nothing is left in flight but the scrape itself');
  });

  t.test('a client that leaves before any answer is counted as 499, not left in flight', async (t) => {
    const u = new URL(base);
    await new Promise<void>((resolve) => {
      const req = request({ host: u.hostname, port: u.port, path: '/slow' });
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
    let body = '';
    for (let i = 0; i < 100; i++) {
      body = (await rawRequest(base, '/metrics')).body;
      if (/status="499"/.test(body)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    t.match(body, /^menshen_http_requests_total\{route="open",method="GET",status="499"\} 1$/m, 'counted once, as 499');
    t.match(body, /^menshen_http_in_flight_requests 1$/m, 'only the scrape in flight');
    t.match(body, /^menshen_http_requests_total\{route="open",method="GET",status="200"\} \d+$/m, 'the answered ones as before');
  });

  t.test('an upstream that hangs up mid-answer cuts the client off; the gateway serves on', async (t) => {
    const u = new URL(base);
    const outcome = await new Promise<string>((resolve) => {
      request({ host: u.hostname, port: u.port, path: '/broken/x' }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(`complete after ${n} bytes`));
        res.on('error', () => resolve(`cut after ${n} bytes`));
        res.on('aborted', () => resolve(`cut after ${n} bytes`));
      })
        .on('error', (err) => resolve(`error ${err.message}`))
        .end();
    });
    t.match(outcome, /^cut after 10 bytes$/, 'the client sees a truncated answer, never a complete one');
    t.equal((await rawRequest(base, '/x')).status, 200, 'the next request is served');
    const metrics = await rawRequest(base, '/metrics');
    t.match(metrics.body, /^menshen_http_in_flight_requests 1$/m, 'the cut request is no longer in flight');
  });
});

t.test('answers Node cannot relay as they are still get an answer', async (t) => {
  // A reason phrase undici accepts and Node's writeHead refuses (UTF-8 bytes): the client must not
  // be left waiting. The phrase is never relayed: the standard one is sent.
  const utf8Phrase = await rawUpstream(t, Buffer.concat([Buffer.from('HTTP/1.1 200 '), Buffer.from('成功'), Buffer.from('\r\nContent-Length: 2\r\n\r\nok')]));
  const latin1Phrase = await rawUpstream(t, Buffer.from('HTTP/1.1 404 Tr\xe8s mal\r\nContent-Length: 4\r\n\r\nnope', 'latin1'));
  const stack = await startStack(t, {
    store: 'memory',
    routes: `
    - name: utf8
      match: { pathPrefix: /utf8 }
      upstream: "${utf8Phrase}"
      auth: none
    - name: latin1
      match: { pathPrefix: /latin1 }
      upstream: "${latin1Phrase}"
      auth: none
`,
  });
  const a = await rawGet(stack.base, '/utf8/x');
  t.match(a, /^HTTP\/1\.1 200 OK\r\n/, 'the status, with the standard phrase');
  t.match(a, /\r\n\r\nok$/, 'and the body');
  const b = await rawGet(stack.base, '/latin1/x');
  t.match(b, /^HTTP\/1\.1 404 Not Found\r\n/);
  t.match(b, /\r\n\r\nnope$/);
});

t.test('responseHeaders and failureStatus', async (t) => {
  const raw = ['Content-Type', 'text/plain', 'Connection', 'close, X-Hop', 'X-Hop', '1', 'Set-Cookie', 'a=1', 'Transfer-Encoding', 'chunked', 'X-Request-Id', 'app'].map((s) => Buffer.from(s));
  t.same(
    responseHeaders(raw, { 'x-request-id': 'gw', 'set-cookie': 'menshen=x', 'x-other': 2, skipped: undefined }),
    ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'X-Request-Id', 'app', 'set-cookie', 'menshen=x', 'x-other', '2'],
  );
  t.same(responseHeaders(['A', '\xe9'], { 'set-cookie': ['x=1', 'y=2'] }), ['A', '\xe9', 'set-cookie', 'x=1', 'set-cookie', 'y=2'], 'latin1 bytes as they came; cookie lists');
  t.equal(failureStatus({ code: 'UND_ERR_HEADERS_TIMEOUT' }), 504);
  t.equal(failureStatus({ code: 'UND_ERR_CONNECT_TIMEOUT' }), 504);
  t.equal(failureStatus({ code: 'ECONNREFUSED' }), 502);
  t.equal(failureStatus(new Error('x')), 502);
  t.equal(failureStatus(null), 502);
});
