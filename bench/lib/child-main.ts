/**
 * The child side of child.ts: reads its options, runs the setup, reports ready, answers calls,
 * and closes cleanly on SIGTERM.
 */
import type { ReadyInfo } from './child.js';

export type Ops = Record<string, (args: any) => unknown>;

export interface ChildSetup<R extends ReadyInfo> {
  ready: R;
  ops?: Ops;
  close?: () => Promise<void>;
}

export function childOptions<T>(): T {
  const raw = process.env.BENCH_CHILD_OPTIONS;
  return (raw ? JSON.parse(raw) : {}) as T;
}

/**
 * Built-in ops every child answers: its memory figures, after a full GC when the child runs with
 * --expose-gc (so that garbage left by the last burst of requests does not count as memory kept).
 */
const builtinOps: Ops = {
  memory: () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) gc();
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, gcForced: Boolean(gc) };
  },
};

export async function serveChild<R extends ReadyInfo>(setup: () => Promise<ChildSetup<R>>): Promise<void> {
  if (!process.send) throw new Error('a benchmark child must be started by bench/lib/child.ts (no IPC channel)');
  let built: ChildSetup<R>;
  try {
    built = await setup();
  } catch (err) {
    process.stderr.write(`benchmark child failed to start: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  }
  const { ready, ops = {}, close } = built;
  const all: Ops = { ...builtinOps, ...ops };
  process.on('message', async (m: { id: number; op: string; args: unknown }) => {
    const fn = all[m.op];
    try {
      if (!fn) throw new Error(`unknown op ${m.op}`);
      const result = await fn(m.args);
      process.send!({ id: m.id, ok: true, result });
    } catch (err) {
      process.send!({ id: m.id, ok: false, error: (err as Error).stack ?? String(err) });
    }
  });
  process.once('SIGTERM', () => {
    void (async () => {
      try {
        await close?.();
      } finally {
        process.exit(0);
      }
    })();
  });
  process.send({ ready });
}
