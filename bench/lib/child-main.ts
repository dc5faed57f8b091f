/**
 * The child side of child.ts: reads its options, runs the setup, reports ready, answers calls,
 * and closes cleanly on SIGTERM.
 */
import v8 from 'node:v8';
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
  /**
   * `reduce`: V8's last-resort collection (what it runs under memory pressure): it also shrinks
   * the young generation and gives freed pages back, so RSS shows what the process keeps rather
   * than the heap size its last burst grew to.
   */
  memory: (args?: { reduce?: boolean }) => {
    const gc = (globalThis as { gc?: (o?: unknown) => void }).gc;
    if (gc) gc(args?.reduce ? { type: 'major', execution: 'sync', flavor: 'last-resort' } : undefined);
    const m = process.memoryUsage();
    // Per V8 space, what it holds and what it keeps reserved (committed) after the GC.
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { used: s.space_used_size, committed: s.physical_space_size }]));
    return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, spaces, gcForced: Boolean(gc) };
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
