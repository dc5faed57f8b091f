/**
 * server.trustProxy: true lets any client choose req.ip through X-Forwarded-For, and req.ip keys the
 * provider's brute-force counters: the app warns at start (once), and not for a list of proxies.
 */
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { configFromYaml } from '../../src/config/load.js';
import { LogLines } from '../ops/helpers.js';

async function startupWarnings(trustProxy: string): Promise<string[]> {
  const logs = new LogLines();
  const app = await buildApp(configFromYaml(`server: { trustProxy: ${trustProxy} }\n`, {}), { logger: { level: 'warn', stream: logs.stream() } });
  await app.close();
  return logs.lines.filter((l) => l.level === 40).map((l) => String(l.msg));
}

t.test('trustProxy: true warns at start', async (t) => {
  const warned = (await startupWarnings('true')).filter((m) => m.includes('X-Forwarded-For'));
  t.equal(warned.length, 1);
  t.match(warned[0], 'trusts X-Forwarded-For from any peer: list the proxy addresses instead');
});

t.test('a list of proxies, or false, does not', async (t) => {
  t.same((await startupWarnings('["10.0.0.0/8"]')).filter((m) => m.includes('X-Forwarded-For')), []);
  t.same((await startupWarnings('false')).filter((m) => m.includes('X-Forwarded-For')), []);
});
