/**
 * Benchmark servers run in child processes of their own, so that no server shares an event loop
 * (or a CPU core's worth of JIT and GC) with autocannon, which runs in the parent.
 *
 * Protocol (Node IPC): the child script calls `serveChild(ops)` (child-main.ts); once listening it
 * sends `{ ready: info }`. The parent then calls ops by name with `child.call(op, args)`; each
 * reply carries the call's id. Options reach the child as JSON in BENCH_CHILD_OPTIONS.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The child script `name` (written `foo.ts`) beside the module at `moduleUrl`, as that module runs:
 * the .ts source under tsx (the tests' smoke run), or the compiled .js under dist/ when
 * `npm run bench` runs the tsc output, as the production image does (node dist/src/main.js):
 * tsx's per-function name helpers and loader would otherwise be measured as menshen's cost.
 */
export function siblingScript(moduleUrl: string, name: string): string {
  const ext = moduleUrl.endsWith('.js') ? '.js' : '.ts';
  return fileURLToPath(new URL(`./${name.replace(/\.ts$/, ext)}`, moduleUrl));
}

export interface ReadyInfo {
  /** Base URL the server listens on (always 127.0.0.1). */
  url: string;
  [k: string]: unknown;
}

export interface ChildServer<R extends ReadyInfo = ReadyInfo> {
  readonly pid: number;
  readonly ready: R;
  call<T>(op: string, args?: unknown): Promise<T>;
  /** Resident set size of the child process, bytes, read from /proc (Linux). */
  rssBytes(): number;
  /** CPU time (user + system, every thread) the child has used so far, ms, read from /proc (Linux). */
  cpuMs(): number;
  stop(): Promise<void>;
}

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export class ChildFailedError extends Error {
  constructor(script: string, detail: string) {
    super(`benchmark child ${script}: ${detail}`);
    this.name = 'ChildFailedError';
  }
}

/** Starts `script` (a .ts file runs through tsx, a .js file on plain node) and waits for it to report ready. */
export async function startChild<R extends ReadyInfo = ReadyInfo>(
  script: string,
  options: unknown = {},
  { execArgv = [] as string[], startTimeoutMs = 60_000 } = {},
): Promise<ChildServer<R>> {
  const proc: ChildProcess = fork(script, [], {
    // BENCH_NODE_ARGS: extra node flags for every child (e.g. --trace-gc while looking into a tail).
    execArgv: [...(script.endsWith('.ts') ? ['--import', 'tsx'] : []), ...execArgv, ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
    env: { ...process.env, BENCH_CHILD_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let exited = false;

  const ready = await new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ChildFailedError(script, 'did not become ready in time')), startTimeoutMs);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new ChildFailedError(script, `exited before ready (code ${code}, signal ${signal})`));
    });
    proc.on('message', (m: { ready?: R } | Reply) => {
      if ('ready' in m && m.ready) {
        clearTimeout(timer);
        resolve(m.ready);
        return;
      }
      const reply = m as Reply;
      const waiter = pending.get(reply.id);
      if (!waiter) return;
      pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new ChildFailedError(script, reply.error ?? 'call failed'));
    });
  });
  proc.removeAllListeners('exit');
  proc.once('exit', (code, signal) => {
    exited = true;
    for (const w of pending.values()) w.reject(new ChildFailedError(script, `exited (code ${code}, signal ${signal})`));
    pending.clear();
  });

  return {
    pid: proc.pid!,
    ready,
    call<T>(op: string, args?: unknown): Promise<T> {
      if (exited) return Promise.reject(new ChildFailedError(script, 'already exited'));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        proc.send({ id, op, args });
      });
    },
    rssBytes(): number {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      if (!kb) throw new ChildFailedError(script, 'no VmRSS in /proc status');
      return Number(kb[1]) * 1024;
    },
    cpuMs(): number {
      // /proc/<pid>/stat: fields after the parenthesized command; utime and stime are the 12th
      // and 13th of those, in clock ticks of USER_HZ, which Linux fixes at 100 for /proc.
      const stat = readFileSync(`/proc/${proc.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      if (!Number.isFinite(ticks)) throw new ChildFailedError(script, 'unreadable /proc stat');
      return ticks * 10;
    },
    stop(): Promise<void> {
      if (exited) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        proc.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        proc.kill('SIGTERM');
      });
    },
  };
}
