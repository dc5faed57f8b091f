/**
 * A real SMS gateway stand-in for tests: an HTTP listener on 127.0.0.1 that captures what the
 * webhook sender POSTs, and can be told to refuse (HTTP 500) or hang (to exercise the timeout).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedSms {
  phone: string;
  code: string;
  purpose: string;
  expiresIn: number;
}

export interface SmsWebhook {
  url: string;
  /** every message received, in order */
  messages: CapturedSms[];
  /** request headers of each message */
  headers: IncomingMessage['headers'][];
  mode: 'ok' | 'fail' | 'hang';
  /** the newest message (throws when none arrived) */
  last(): CapturedSms;
  close(): Promise<void>;
}

export async function startSmsWebhook(t: { teardown(fn: () => unknown): void }): Promise<SmsWebhook> {
  const hanging: ServerResponse[] = [];
  const hook: SmsWebhook = {
    url: '',
    messages: [],
    headers: [],
    mode: 'ok',
    last() {
      const m = hook.messages.at(-1);
      if (!m) throw new Error('no SMS was sent');
      return m;
    },
    close: async () => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (hook.mode === 'hang') {
        hanging.push(res);
        return;
      }
      if (hook.mode === 'fail') {
        res.writeHead(500).end('gateway down');
        return;
      }
      hook.messages.push(JSON.parse(body) as CapturedSms);
      hook.headers.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`;
  t.teardown(() => hook.close());
  return hook;
}
