/**
 * /metrics: the instruments every part records into, on the main port or on server.metricsListen,
 * and the store wrapper that counts every failed store operation.
 */
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { configFromYaml } from '../../src/config/load.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { meteredStore } from '../../src/ops/metered-store.js';
import { startMetricsServer } from '../../src/ops/metrics-server.js';
import { RedisStore } from '../../src/store/redis.js';
import { StoreUnavailableError } from '../../src/store/store.js';
import { freePort, startRedis } from '../helpers/redis-server.js';
import { sample } from './helpers.js';

t.test('on the main port: requests by route and status, latency histogram, process metrics', async (t) => {
  const app = await buildApp(configFromYaml('{}', {}), { logger: false });
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  await fetch(`${base}/healthz`);
  await fetch(`${base}/healthz`);
  await fetch(`${base}/no/such/thing?token=x`);

  const res = await fetch(`${base}/metrics`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  t.equal(sample(text, 'menshen_http_requests_total', { route: '/healthz', method: 'GET', status: '200' }), 2);
  t.equal(sample(text, 'menshen_http_requests_total', { route: 'unmatched', status: '404' }), 1, 'unknown paths share one label: no cardinality blow-up');
  t.equal(sample(text, 'menshen_http_request_duration_seconds_count', { route: '/healthz' }), 2);
  t.equal(sample(text, 'menshen_http_in_flight_requests'), 1, 'the scrape itself is in flight');
  t.ok(sample(text, 'menshen_process_cpu_seconds_total') > 0, 'default process metrics, prefixed');
  for (const name of [
    'menshen_logins_total',
    'menshen_session_refreshes_total',
    'menshen_token_grants_total',
    'menshen_store_errors_total',
    'menshen_sessions_total',
    'menshen_config_reloads_total',
  ])
    t.match(text, new RegExp(`^# TYPE ${name} counter$`, 'm'), `${name} is exported`);
});

t.test('server.metricsListen moves /metrics to its own listener', async (t) => {
  const port = await freePort();
  const app = await buildApp(configFromYaml(`server: { metricsListen: "127.0.0.1:${port}" }\n`, {}), { logger: false });
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const metrics = await startMetricsServer(app, { host: '127.0.0.1', port });
  t.teardown(() => metrics.close());

  t.equal((await fetch(`${base}/metrics`)).status, 404, 'not on the public port');
  await fetch(`${base}/healthz`);
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  t.equal(res.status, 200);
  t.equal(sample(await res.text(), 'menshen_http_requests_total', { route: '/healthz' }), 1, "the main app's registry");
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 404, 'only /metrics there');
});

t.test('every failed store operation is counted by operation', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const metrics = createMetrics({ defaultMetrics: false });
  const inner = await RedisStore.connect({ url: redis.url, keyPrefix: 'metered:', tls: false });
  const store = meteredStore(inner, metrics);
  t.teardown(() => store.close());

  await store.set('k', 'v', 60);
  const lock = await store.lock('l', 5000);
  t.equal(await store.get('k'), 'v');
  const errors = async () => sample(await metrics.registry.metrics(), 'menshen_store_errors_total');
  t.ok(Number.isNaN(await errors()), 'nothing counted while Redis answers');

  await redis.kill();
  await t.rejects(store.get('k'), StoreUnavailableError);
  await t.rejects(store.set('k', 'w'), StoreUnavailableError);
  await t.rejects(lock!.renew(5000), StoreUnavailableError);
  await t.rejects(store.take('k'), StoreUnavailableError);
  const text = await metrics.registry.metrics();
  for (const op of ['get', 'set', 'lock', 'take']) t.equal(sample(text, 'menshen_store_errors_total', { op }), 1, op);
  // redis-server.ts's stop() waits for an exit that a killed server already had: bring it back first.
  await redis.restart();
});
