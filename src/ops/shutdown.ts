/**
 * Graceful shutdown (SIGTERM): stop accepting, let in-flight requests finish, then close the store
 * (the app's onClose hook) and whatever else main.ts started. Bounded by server.shutdownTimeout:
 * what is still open then is cut, so a stuck upstream cannot hold a rollout forever.
 */
import type { FastifyInstance } from 'fastify';

/**
 * Node's server.close() drops the connections idle at that moment only; a keep-alive connection
 * whose request finishes later would hold close() open for the whole keep-alive timeout (72 s in
 * fastify). Sweeping idle connections while draining ends each one as soon as its response is out.
 */
const IDLE_SWEEP_MS = 100;
/** After the deadline, how long the forced close may take before we give up waiting. */
const FORCED_CLOSE_GRACE_MS = 2000;

export type ShutdownOutcome = 'drained' | 'timed-out';

export interface ShutdownOptions {
  /** Longest wait for in-flight requests, ms. */
  timeoutMs: number;
  /** Closed after the app (metrics listener, demo upstream). */
  others?: Array<() => Promise<unknown>>;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export async function gracefulShutdown(app: FastifyInstance, opts: ShutdownOptions): Promise<ShutdownOutcome> {
  const server = app.server;
  const sweeper = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
  sweeper.unref();
  // app.close(): the listener stops at once (new connections are refused), requests on open
  // connections get 503 (return503OnClosing), in-flight ones run to completion, then onClose
  // hooks close the store.
  const closing = app.close().then(() => 'drained' as const);
  let deadline: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed-out'>((resolve) => {
    deadline = setTimeout(() => resolve('timed-out'), opts.timeoutMs);
    deadline.unref();
  });
  const outcome = await Promise.race([closing, timedOut]);
  clearTimeout(deadline);
  if (outcome === 'timed-out') {
    app.log.warn({ timeoutMs: opts.timeoutMs }, 'shutdown: in-flight requests did not finish in time; closing their connections');
    server.closeAllConnections();
    await Promise.race([closing, delay(FORCED_CLOSE_GRACE_MS)]);
  }
  clearInterval(sweeper);
  await Promise.allSettled((opts.others ?? []).map((close) => close()));
  return outcome;
}
