import type { AppContext } from '../context.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Shared context: config, store, clock, metrics, readiness checks. */
    menshen: AppContext;
  }
  interface FastifyRequest {
    /** Label for metrics and logs: the gateway route name, else the fastify route pattern. */
    metricsRoute: string | null;
    /** Set by the onResponse hook: the response completed and was counted and logged there. */
    responseCounted: boolean;
  }
}
