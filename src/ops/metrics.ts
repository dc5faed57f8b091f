/**
 * Prometheus metrics (prom-client), one registry per app so several apps can live in one process
 * (tests). Every part records through these named instruments; none creates its own.
 */
import { Registry, Counter, Histogram, Gauge, collectDefaultMetrics } from 'prom-client';

export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'menshen_' });
  const m = {
    registry,
    requests: new Counter({
      name: 'menshen_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'menshen_http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    inFlight: new Gauge({ name: 'menshen_http_in_flight_requests', help: 'requests being served', registers: [registry] }),
    logins: new Counter({
      name: 'menshen_logins_total',
      help: 'completed logins by where (provider, gateway) and outcome',
      labelNames: ['where', 'outcome'] as const,
      registers: [registry],
    }),
    refreshes: new Counter({
      name: 'menshen_session_refreshes_total',
      help: 'gateway token refreshes by outcome (success, invalid_grant, error, joined, ended)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    grants: new Counter({
      name: 'menshen_token_grants_total',
      help: 'provider token endpoint calls by grant type and error ("" on success)',
      labelNames: ['grant_type', 'error'] as const,
      registers: [registry],
    }),
    storeErrors: new Counter({
      name: 'menshen_store_errors_total',
      help: 'failed store (Redis) operations by operation (get, set, lock, ping, ...)',
      labelNames: ['op'] as const,
      registers: [registry],
    }),
    sessions: new Counter({
      name: 'menshen_sessions_total',
      help: 'gateway sessions by event (created, ended)',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    configReloads: new Counter({
      name: 'menshen_config_reloads_total',
      help: 'configuration reloads (SIGHUP or file change) by outcome (applied, rejected)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
