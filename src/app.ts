/**
 * buildApp(config) -> a ready-to-listen fastify instance (no listen): tests use it directly,
 * main.ts owns the process. Wires the store, ops endpoints, the provider and the gateway.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyError } from 'fastify';
import formbody from '@fastify/formbody';
import type { Config } from './config/schema.js';
import type { AppContext } from './context.js';
import { systemClock, type Clock } from './clock.js';
import { createStore } from './store/index.js';
import { StoreUnavailableError, type KvStore } from './store/store.js';
import { createMetrics, type Metrics } from './ops/metrics.js';
import { loggerOptions } from './ops/logger.js';
import { healthRoutes } from './ops/health.js';
import { AccessLogController, logUnfinished, routeLabel, unfinishedStatus } from './ops/access-log.js';
import { meteredStore } from './ops/metered-store.js';
import { providerPlugin } from './provider/plugin.js';
import { gatewayPlugin } from './gateway/plugin.js';

export interface BuildOptions {
  /** Use this store instead of creating one from config (tests share one); not closed with the app. */
  store?: KvStore;
  clock?: Clock;
  metrics?: Metrics;
  /** pino logger options override; false silences (tests). */
  logger?: boolean | object;
}

export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger === undefined ? loggerOptions(config.log.level, config.log.pretty) : opts.logger,
    trustProxy: config.server.trustProxy,
    bodyLimit: config.server.bodyLimit,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    return503OnClosing: true,
    // One access-log line per request, with route, status, latency and user (src/ops/access-log.ts).
    logController: new AccessLogController(),
    // Codes and tokens are never in paths, but long garbage is refused early.
    routerOptions: { maxParamLength: 256, ignoreTrailingSlash: false },
  });

  const ownsStore = !opts.store;
  const metrics = opts.metrics ?? createMetrics();
  // Every failed store operation is counted in menshen_store_errors_total (src/ops/metered-store.ts).
  const store = meteredStore(opts.store ?? (await createStore(config.store)), metrics);
  const context: AppContext = {
    config,
    store,
    clock: opts.clock ?? systemClock,
    metrics,
    readiness: new Map([['store', () => store.ping()]]),
    reloaders: [],
  };
  app.decorate('menshen', context);
  app.decorateRequest('metricsRoute', null);
  app.decorateRequest('userSub', null);
  app.decorateRequest('responseCounted', false);
  if (config.store.type === 'memory') app.log.warn('store.type is memory: run a single replica only');
  // With `true` any client picks its own req.ip (the brute-force counters' key) by sending
  // X-Forwarded-For: gateway-lessons §5.5, trust only the listed proxies.
  if (config.server.trustProxy === true)
    app.log.warn('server.trustProxy is true: menshen trusts X-Forwarded-For from any peer: list the proxy addresses instead');

  // Callback-style hooks: they run on every request and an async one costs a promise each.
  // In flight until the response closes: 'close' comes once per response, finished or not, while
  // onResponse never runs for a client that left or an upstream answer that was cut short. Those
  // are counted and logged at 'close' instead (access-log.ts logUnfinished: 499 when no answer
  // had started, as nginx logs a client that closed its request).
  const count = (route: string, method: string, status: number, seconds: number) => {
    metrics.requests.inc({ route, method, status });
    metrics.duration.observe({ route }, seconds);
  };
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    metrics.inFlight.inc();
    reply.raw.once('close', () => {
      metrics.inFlight.dec();
      if (req.responseCounted) return;
      const status = unfinishedStatus(reply);
      count(routeLabel(req), req.method, status, reply.elapsedTime / 1000);
      logUnfinished(req, reply, status);
    });
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    req.responseCounted = true;
    count(routeLabel(req), req.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  app.addHook('onClose', async () => {
    if (ownsStore) await store.close();
  });

  // Default error shape for anything a dialect or the gateway does not map itself:
  // client mistakes keep their 4xx and message; everything else is a bare 500, cause logged.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof StoreUnavailableError) {
      req.log.error({ err: err.cause }, 'store unavailable');
      return reply.code(503).send({ error: 'temporarily_unavailable', error_description: 'session store unavailable' });
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) {
      req.log.error({ err }, 'unhandled error');
      return reply.code(500).send({ error: 'server_error', error_description: 'internal error' });
    }
    return reply.code(status).send({ error: 'invalid_request', error_description: err.message });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not_found', error_description: 'no such path' }));

  await app.register(formbody, { bodyLimit: config.server.bodyLimit });
  await app.register(healthRoutes, { metrics: config.server.metricsListen === undefined });
  if (config.provider) await app.register(providerPlugin);
  if (config.gateway) await app.register(gatewayPlugin);
  return app;
}
