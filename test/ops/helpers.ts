/**
 * Operations test helpers: the real CLI as a child process with its JSON log lines, an upstream
 * that holds chosen requests until the test lets them go (so "slow" needs no timer), and a pino
 * stream that captures an in-process app's log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { Writable } from 'node:stream';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export type LogLine = Record<string, unknown> & { level: number; msg: string };

/** Collects pino's JSON lines; waitFor resolves on the first line (past or future) that matches. */
export class LogLines {
  readonly lines: LogLine[] = [];
  /** Every byte written, to search for secrets in exactly what an operator would see. */
  raw = '';
  private waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  private partial = '';

  push(chunk: string): void {
    this.raw += chunk;
    const text = this.partial + chunk;
    const parts = text.split('\n');
    this.partial = parts.pop()!;
    for (const part of parts) {
      if (!part.trim()) continue;
      let line: LogLine;
      try {
        line = JSON.parse(part) as LogLine;
      } catch {
        line = { level: 0, msg: part };
      }
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(line)) return true;
        w.resolve(line);
        return false;
      });
    }
  }

  waitFor(match: (l: LogLine) => boolean): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** A stream to give pino (fastify `logger: { stream }`). */
  stream(): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, done) => {
        this.push(chunk.toString('utf8'));
        done();
      },
    });
  }
}

export interface MenshenProcess {
  child: ChildProcess;
  logs: LogLines;
  stderr: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  signal(sig: NodeJS.Signals): void;
}

/** `node --import tsx src/main.ts <args>` from the repository root, stdout parsed as log lines. */
export function spawnMenshen(t: Teardownable, args: string[], env: NodeJS.ProcessEnv = {}): MenshenProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = new LogLines();
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => logs.push(d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, logs, stderr: () => stderr, exited, signal: (sig) => child.kill(sig) };
}

/** Resolves true when a TCP connection to the port is refused, false when it is accepted. */
export function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

export interface HoldingUpstream {
  url: string;
  name: string;
  /** Resolves when a request under /hold/ arrives; call the returned function to answer it. */
  nextHeld(): Promise<{ url: string; release: () => void }>;
}

/**
 * An upstream that answers `{"upstream": name, "url": ...}` at once, except under /hold/ where
 * the answer waits until the test releases it.
 */
export async function startHoldingUpstream(t: Teardownable, name: string): Promise<HoldingUpstream> {
  const arrived: Array<{ url: string; release: () => void }> = [];
  const waiting: Array<(h: { url: string; release: () => void }) => void> = [];
  const answer = (req: IncomingMessage, res: ServerResponse) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ upstream: name, url: req.url }));
  const server = createServer((req, res) => {
    if (!req.url?.includes('/hold/')) return answer(req, res);
    const held = { url: req.url, release: () => answer(req, res) };
    const w = waiting.shift();
    if (w) w(held);
    else arrived.push(held);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    name,
    nextHeld: () => new Promise((resolve) => (arrived.length ? resolve(arrived.shift()!) : waiting.push(resolve))),
  };
}

/** The value of one Prometheus sample, e.g. sample(text, 'menshen_logins_total', { outcome: 'success' }). */
export function sample(metricsText: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const line of metricsText.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (.+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      total += Number(m[3]);
      found = true;
    }
  }
  return found ? total : NaN;
}

/**
 * Just enough browser for a login flow over HTTP: one cookie jar for 127.0.0.1 (cookies ignore
 * ports, as in browsers), redirects followed by hand, HTML Accept header, forms as urlencoded POST.
 */
export class CookieBrowser {
  readonly cookies = new Map<string, string>();
  readonly visited: string[] = [];

  async request(url: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    this.visited.push(url);
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { accept: 'text/html', ...(cookie ? { cookie } : {}), ...init.headers },
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** Follows redirects (a redirect after POST becomes GET); returns the final page. */
  async navigate(url: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<{ url: string; status: number; body: string }> {
    let current = url;
    let next = init;
    for (let hop = 0; hop < 20; hop++) {
      const res = await this.request(current, next);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer();
        current = new URL(location, current).href;
        next = {};
        continue;
      }
      return { url: current, status: res.status, body: await res.text() };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  submit(url: string, fields: Record<string, string>) {
    return this.navigate(url, {
      method: 'POST',
      body: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }
}
