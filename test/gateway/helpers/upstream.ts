/**
 * A real upstream app (node:http) that echoes what the gateway sent it: method, URL (path and raw
 * query as received), headers and body, as JSON. Websocket upgrades are accepted too (ws): the
 * first message is the handshake's headers and URL, then every message is echoed back.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { WebSocketServer } from 'ws';

export interface Echo {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface TestUpstream {
  url: string;
  server: Server;
  /** Every request received, in order. */
  received: Echo[];
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export async function startUpstream(t: Teardownable): Promise<TestUpstream> {
  const received: Echo[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const echo: Echo = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(echo);
      if (req.url?.includes('/set-cookie')) res.setHeader('set-cookie', 'app=1; Path=/');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(echo));
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    ws.send(JSON.stringify({ url: req.url, headers: req.headers }));
    ws.on('message', (data) => ws.send(`echo:${data.toString()}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${port}`, server, received };
}
