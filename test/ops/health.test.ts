/**
 * /healthz and /readyz against a Redis of the test's own: readiness follows Redis down and up with
 * no restart, names the failing check, never hangs on a stuck check, and store failures are
 * counted on /metrics.
 */
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { configFromYaml } from '../../src/config/load.js';
import { startRedis } from '../helpers/redis-server.js';
import { uniquePrefix } from '../helpers/store.js';
import { waitFor } from '../helpers/redis-topologies.js';
import { sample } from './helpers.js';

async function startOnRedis(t: { teardown(fn: () => unknown): void }, redisUrl: string) {
  const config = configFromYaml(`store: { type: redis, redis: { url: "${redisUrl}", keyPrefix: "${uniquePrefix()}" } }\n`, {});
  const app = await buildApp(config, { logger: false });
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
  const readyz = async () => {
    const r = await get('/readyz');
    return { status: r.status, body: JSON.parse(r.text) as { status: string; failures?: Record<string, string> } };
  };
  return { app, base, get, readyz };
}

t.test('readiness flips to 503 when Redis stops and back to 200 when it returns, without a restart', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const { get, readyz } = await startOnRedis(t, redis.url);

  t.same(await readyz(), { status: 200, body: { status: 'ready' } });
  const health = await get('/healthz');
  t.equal(health.status, 200);
  t.equal(health.headers.get('cache-control'), 'no-store', 'probes are never cached');

  await redis.kill();
  await waitFor('/readyz to fail', async () => (await readyz()).status === 503);
  const down = await readyz();
  t.equal(down.body.status, 'not ready');
  t.match(down.body.failures, { store: /unavailable/ }, 'the failing check is named with its reason');
  t.equal((await get('/healthz')).status, 200, 'liveness does not depend on Redis: no restart loop');
  t.ok(sample((await get('/metrics')).text, 'menshen_store_errors_total', { op: 'ping' }) >= 1, 'failed pings are counted');

  await redis.restart();
  await waitFor('/readyz to recover', async () => (await readyz()).status === 200);
  t.pass('ready again on the same store connection');
});

t.test('an app started while Redis is down comes up unready and becomes ready when Redis appears', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  await redis.kill();
  const { get, readyz } = await startOnRedis(t, redis.url);
  t.equal((await readyz()).status, 503);
  t.equal((await get('/healthz')).status, 200);
  await redis.restart();
  await waitFor('/readyz after Redis starts', async () => (await readyz()).status === 200);
  t.pass('ready');
});

t.test('every registered check runs; failures are listed by name; a stuck check times out', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const config = configFromYaml(`store: { type: redis, redis: { url: "${redis.url}", keyPrefix: "${uniquePrefix()}" } }\n`, {});
  const app = await buildApp(config, { logger: false });
  t.teardown(() => app.close());
  app.menshen.readiness.set('issuer', async () => {
    throw new Error('discovery of https://idp.example failed: 502');
  });
  app.menshen.readiness.set('keys', () => new Promise<void>(() => {}));
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const res = await fetch(`${base}/readyz`);
  t.equal(res.status, 503);
  t.same(await res.json(), {
    status: 'not ready',
    failures: { issuer: 'discovery of https://idp.example failed: 502', keys: 'timed out' },
  }, 'the healthy store is not listed; the stuck check is cut off');
});
