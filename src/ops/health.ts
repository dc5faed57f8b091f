/** /healthz (process alive), /readyz (every registered readiness check passes), /metrics. */
import type { FastifyInstance } from 'fastify';

const READY_TIMEOUT_MS = 2000;

async function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every check; returns the failures by name. */
export async function readinessFailures(app: FastifyInstance): Promise<Record<string, string>> {
  const failures: Record<string, string> = {};
  await Promise.all(
    [...app.menshen.readiness].map(async ([name, check]) => {
      try {
        await withTimeout(check(), READY_TIMEOUT_MS);
      } catch (err) {
        failures[name] = (err as Error).message;
      }
    }),
  );
  return failures;
}

export async function healthRoutes(app: FastifyInstance, opts: { metrics: boolean }): Promise<void> {
  app.get('/healthz', async (_req, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const failures = await readinessFailures(app);
    const ok = Object.keys(failures).length === 0;
    return reply
      .code(ok ? 200 : 503)
      .header('cache-control', 'no-store')
      .send(ok ? { status: 'ready' } : { status: 'not ready', failures });
  });
  if (opts.metrics) app.get('/metrics', async (_req, reply) => metricsReply(app, reply));
}

export async function metricsReply(app: FastifyInstance, reply: import('fastify').FastifyReply) {
  const { registry } = app.menshen.metrics;
  return reply.header('content-type', registry.contentType).send(await registry.metrics());
}
