/**
 * ConfigReloader in-process, on a real file: a broken file is refused with every problem and
 * changes nothing; a good one reaches every reloader; a reloader can refuse (earlier ones are
 * rolled back); log.level applies live; the file watch reloads on change.
 */
import t from 'tap';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../src/app.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { ConfigReloader, changedSections } from '../../src/ops/reload.js';
import { loggerOptions } from '../../src/ops/logger.js';
import { LogLines, sample } from './helpers.js';

const SECRET = 'reload-test-cookie-secret-0123456789abcdef';
const yaml = (routes: string, extra = '') => `
server: { listen: "127.0.0.1:0" }
${extra}
gateway:
  oidc: { issuer: "https://idp.example", clientId: gw }
  session: { secret: ${SECRET} }
  routes:
${routes}
`;
const ROUTE_A = '    - { name: a, match: { pathPrefix: /a }, upstream: "http://127.0.0.1:9001", auth: none }';
const ROUTE_B = '    - { name: b, match: { pathPrefix: /b }, upstream: "http://127.0.0.1:9002", auth: none }';

async function setup(t: { teardown(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'menshen-reload-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'menshen.yaml');
  writeFileSync(file, yaml(ROUTE_A));
  const initial = loadConfigFile(file, {});
  const logs = new LogLines();
  // No gateway plugin here: the reloaders are the test's own, the file and the reloader are real.
  const app = await buildApp({ ...initial, gateway: undefined } as Config, {
    logger: { ...(loggerOptions('info', false) as object), stream: logs.stream() },
  });
  t.teardown(() => app.close());
  const seen: Array<string[]> = [];
  app.menshen.reloaders.push((next) => {
    seen.push(next.gateway!.routes.map((r) => r.name));
  });
  const reloader = new ConfigReloader(app, { file, initial, env: {} });
  const metric = async (outcome: string) => sample(await app.menshen.metrics.registry.metrics(), 'menshen_config_reloads_total', { outcome });
  return { app, file, dir, logs, seen, reloader, metric };
}

t.test('a broken file is refused with every problem by YAML path; nothing changes', async (t) => {
  const { file, logs, seen, reloader, metric } = await setup(t);
  writeFileSync(file, yaml(`${ROUTE_A}\n    - { name: a, match: { pathPrefix: nope }, upstream: "ftp://x", bogus: 1 }`));
  const result = await reloader.reload('SIGHUP');
  t.equal(result.outcome, 'rejected');
  const line = await logs.waitFor((l) => l.msg.startsWith('config reload refused'));
  t.equal(line.level, 50, 'logged as an error');
  t.equal(line.trigger, 'SIGHUP');
  const problems = line.problems as string[];
  for (const path of ['gateway.routes[1].name', 'gateway.routes[1].upstream', 'gateway.routes[1].match.pathPrefix', 'gateway.routes[1].bogus'])
    t.ok(problems.some((p) => p.startsWith(`${path}: `)), `${path} is listed`);
  t.same(seen, [], 'no reloader was called');
  t.same(reloader.config.gateway!.routes.map((r) => r.name), ['a'], 'the running configuration stays');
  t.equal(await metric('rejected'), 1);

  writeFileSync(file, 'gateway: [unclosed');
  t.match(await reloader.reload('SIGHUP'), { outcome: 'rejected', problems: [{ path: '(yaml)' }] }, 'a YAML syntax error too');
  rmSync(file);
  t.match(await reloader.reload('SIGHUP'), { outcome: 'rejected', problems: [{ path: '(file)' }] }, 'and a missing file');
});

t.test('a good file reaches every reloader; the same file again is a no-op', async (t) => {
  const { file, logs, seen, reloader, metric } = await setup(t);
  writeFileSync(file, yaml(`${ROUTE_A}\n${ROUTE_B}`));
  t.same(await reloader.reload('SIGHUP'), { outcome: 'applied', changed: ['gateway.routes'] });
  t.same(seen, [['a', 'b']]);
  t.match(await logs.waitFor((l) => l.msg === 'config reloaded'), { level: 30, changed: ['gateway.routes'] });
  t.same(await reloader.reload('SIGHUP'), { outcome: 'unchanged' });
  t.equal(seen.length, 1, 'not called again for an unchanged file');
  t.equal(await metric('applied'), 1);
});

t.test('a reloader that throws refuses the file; the ones before it get the old config back', async (t) => {
  const { app, file, logs, seen, reloader } = await setup(t);
  app.menshen.reloaders.push(() => {
    throw new Error('gateway.session changed: needs a restart');
  });
  writeFileSync(file, yaml(ROUTE_B));
  t.match(await reloader.reload('SIGHUP'), { outcome: 'rejected', problems: [{ message: 'gateway.session changed: needs a restart' }] });
  t.same(seen, [['b'], ['a']], 'first given the new routes, then the previous ones again');
  t.same(reloader.config.gateway!.routes.map((r) => r.name), ['a']);
  t.match(await logs.waitFor((l) => l.msg.startsWith('config reload refused by a part')), { problems: ['(reload): gateway.session changed: needs a restart'] });
});

t.test('log.level applies live; listener and store changes are flagged as needing a restart', async (t) => {
  const { app, file, logs, reloader } = await setup(t);
  t.equal(app.log.level, 'info');
  writeFileSync(file, yaml(ROUTE_A, 'log: { level: debug }\nstore: { type: memory }').replace('127.0.0.1:0', '127.0.0.1:1'));
  const result = await reloader.reload('SIGHUP');
  t.same(result, { outcome: 'applied', changed: ['server.listen', 'log.level'] });
  t.equal(app.log.level, 'debug');
  t.match(await logs.waitFor((l) => l.msg.includes('only after a restart')), { level: 40, changed: ['server.listen'] });
});

t.test('reloads requested during a reload run once more afterwards, with the latest file', async (t) => {
  const { file, seen, reloader } = await setup(t);
  writeFileSync(file, yaml(ROUTE_B));
  const first = reloader.reload('SIGHUP');
  writeFileSync(file, yaml(`${ROUTE_A}\n${ROUTE_B}`));
  const [r1, r2, r3] = await Promise.all([first, reloader.reload('SIGHUP'), reloader.reload('file')]);
  t.equal(r1.outcome, 'applied');
  t.same(r2, r3, 'the queued requests share one reload');
  t.same(reloader.config.gateway!.routes.map((r) => r.name), ['a', 'b'], 'the last file wins');
  t.ok(seen.length <= 2);
});

t.test('the file watch reloads when the file is replaced (editor or Kubernetes style)', async (t) => {
  const { app, file, dir, logs, reloader } = await setup(t);
  const stop = reloader.watch(20);
  t.teardown(stop);
  // The watcher does not keep a process alive on its own (the CLI's listener does).
  await app.listen({ host: '127.0.0.1', port: 0 });
  // Write-then-rename, as editors and the Kubernetes atomic writer do.
  const tmp = join(dir, '.menshen.yaml.tmp');
  writeFileSync(tmp, yaml(ROUTE_B));
  renameSync(tmp, file);
  const line = await logs.waitFor((l) => l.msg === 'config reloaded');
  t.equal(line.trigger, 'file');
  t.same(reloader.config.gateway!.routes.map((r) => r.name), ['b']);
});

t.test('changedSections names what differs two levels deep', async (t) => {
  const base = { server: { listen: 'x', bodyLimit: 1 }, log: { level: 'info' } } as unknown as Config;
  const next = { server: { listen: 'y', bodyLimit: 1 }, log: { level: 'info' }, provider: { issuer: 'z' } } as unknown as Config;
  t.same(changedSections(base, next), ['server.listen', 'provider.issuer']);
});
