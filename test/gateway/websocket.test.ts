/**
 * Websocket upgrades through the gateway: session and policy checked on the handshake, identity
 * headers stripped-then-injected, gateway cookies removed, frames piped both ways; refused on
 * routes without `websocket: true`, without a session, and cross-origin.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { startStack } from './helpers/stack.js';
import { Browser } from './helpers/browser.js';

interface Opened {
  ws: WebSocket;
  first: { url: string; headers: Record<string, string> };
}

function open(url: string, headers: Record<string, string>): Promise<Opened | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('message', (data) => resolve({ ws, first: JSON.parse(data.toString()) as Opened['first'] }));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

t.test('websockets', async (t) => {
  const stack = await startStack(t, { gateway: '  bearer: { audiences: [feed-api] }' });
  const b = new Browser();
  await b.login(`${stack.base}/app/`, 'alice');
  const cookie = `menshen=${b.cookie(stack.base, 'menshen')!}; app=1`;
  const wsBase = stack.base.replace(/^http/, 'ws');
  const origin = stack.base;

  t.test('a signed-in upgrade reaches the upstream with identity, and frames flow both ways', async (t) => {
    const r = await open(`${wsBase}/ws/chat?room=1`, { cookie, origin, 'x-auth-request-user': 'mallory', x_forwarded_user: 'mallory' });
    if (!('ws' in r)) return t.fail(`refused with ${r.status}`);
    t.teardown(() => r.ws.terminate());
    t.equal(r.first.url, '/ws/chat?room=1');
    t.equal(r.first.headers['x-auth-request-user'], stack.issuer.subOf('alice'));
    t.notOk('x_forwarded_user' in r.first.headers, 'spoofed variant stripped');
    t.ok(r.first.headers['x-menshen-assertion']);
    t.equal(r.first.headers.cookie, 'app=1', "the gateway's cookie stays with the gateway");
    const echoed = new Promise<string>((resolve) => r.ws.once('message', (d) => resolve(d.toString())));
    r.ws.send('hello');
    t.equal(await echoed, 'echo:hello');
  });

  t.test('refusals: no session 401, no websocket on the route 403, cross-origin 403, bad path 400, no route 404', async (t) => {
    t.same(await open(`${wsBase}/ws/chat`, { origin }), { status: 401 });
    t.same(await open(`${wsBase}/app/chat`, { cookie, origin }), { status: 403 });
    t.same(await open(`${wsBase}/ws/chat`, { cookie, origin: 'https://evil.example' }), { status: 403 });
    t.same(await open(`${wsBase}/ws/..%2fchat`, { cookie, origin }), { status: 400 });
    t.same(await open(`${wsBase}/nowhere`, { cookie, origin }), { status: 404 });
  });

  t.test('a path trick cannot reach the websocket route from elsewhere without its checks', async (t) => {
    // ws normalizes nothing itself: the raw target is sent as written.
    const r = await open(`${wsBase}/open/../ws/chat`, { origin });
    t.same(r, { status: 401 }, '/open/../ws is the ws route, and it needs a session');
  });

  t.test('bearer clients can open websockets (no Origin: not a browser)', async (t) => {
    const now = Math.floor(stack.clock.now() / 1000);
    const token = await stack.issuer.sign({ iss: stack.issuer.url, aud: 'feed-api', sub: 'svc-1', iat: now, exp: now + 60 });
    const r = await open(`${wsBase}/ws/feed`, { authorization: `Bearer ${token}` });
    if (!('ws' in r)) return t.fail(`refused with ${r.status}`);
    t.equal(r.first.headers['x-auth-request-user'], 'svc-1');
    r.ws.terminate();
  });
});
