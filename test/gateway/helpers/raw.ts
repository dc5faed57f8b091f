/**
 * Sends a request target exactly as written (fetch and URL would resolve '..' and re-encode before
 * sending, hiding the very spellings the path tests are about), and websocket handshakes by hand.
 */
import { request } from 'node:http';
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function rawRequest(base: string, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: opts.method ?? 'GET', path, headers: opts.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * A websocket handshake written by hand: Host is the base's unless `headers` names another, and
 * `headers` go before the upgrade headers. Resolves with the status line the gateway answers, or
 * with what arrived before it closed the socket.
 */
export function wsHandshake(base: string, path: string, headers: Record<string, string> = {}): Promise<string> {
  const u = new URL(base);
  const all = {
    host: u.host,
    ...headers,
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-version': '13',
  };
  const head = Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname);
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) {
        resolve(got.slice(0, got.indexOf('\r\n')));
        s.destroy();
      }
    });
    s.on('error', reject);
    s.on('close', () => resolve(got));
    s.write(`GET ${path} HTTP/1.1\r\n${head}\r\n`);
  });
}
