/**
 * A tiny app to put behind the gateway in the example config: it shows who the gateway says the
 * user is. Started by `menshen serve --demo-upstream` (what `npm start` runs). Not for production.
 */
import { createServer, type Server } from 'node:http';

export function startDemoUpstream(port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const identity = Object.fromEntries(
      Object.entries(req.headers).filter(([k]) => k.startsWith('x-auth-request-') || k.startsWith('x-forwarded-') || k.startsWith('x-remote-') || k === 'x-menshen-assertion'),
    );
    const body = JSON.stringify({ app: 'menshen demo upstream', method: req.method, url: req.url, identity }, null, 2);
    const wantsHtml = (req.headers.accept ?? '').includes('text/html');
    if (wantsHtml) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      const esc = body.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
      res.end(`<!doctype html><title>demo app</title><h1>Hello from the demo app</h1><p>The gateway sent these identity headers:</p><pre>${esc}</pre><form method="post" action="/_menshen/logout"><button type="submit">Log out</button></form>`);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    }
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}
