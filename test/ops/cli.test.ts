/**
 * The real CLI process (`node --import tsx src/main.ts serve`): config reload on SIGHUP and on
 * file change, graceful drain on SIGTERM with a request held at a real upstream, the drain bound,
 * the separate metrics listener, and start-up failures with their exit codes.
 */
import t from 'tap';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { freePort } from '../helpers/redis-server.js';
import { testRedisUrl, uniquePrefix } from '../helpers/store.js';
import { waitFor } from '../helpers/redis-topologies.js';
import { connectionRefused, sample, spawnMenshen, startHoldingUpstream, type HoldingUpstream, type MenshenProcess } from './helpers.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

interface YamlOptions {
  port: number;
  upstream: string;
  store?: 'memory' | 'redis';
  /** Redis key prefix (store: redis). */
  prefix?: string;
  server?: string;
  /** Replaces the route list (for broken files). */
  routes?: string;
}

function yaml(o: YamlOptions): string {
  const base = `http://127.0.0.1:${o.port}`;
  return `
server:
  listen: 127.0.0.1:${o.port}
  publicUrl: ${base}
${o.server ?? ''}
store:
  type: ${o.store ?? 'memory'}
${o.store === 'redis' ? `  redis: { url: "${testRedisUrl()}", keyPrefix: "${o.prefix ?? uniquePrefix()}" }` : ''}
provider:
  issuer: ${base}/idp
  clients:
    - clientId: gw
      clientSecret: gw-secret-0123456789abcdef
      redirectUris: [${base}/_menshen/callback]
gateway:
  oidc: { clientId: gw, clientSecret: gw-secret-0123456789abcdef }
  session: { secret: cli-test-cookie-secret-0123456789abcdef }
  routes:
${o.routes ?? `    - { name: app, match: { pathPrefix: /app }, upstream: "${o.upstream}", auth: none }`}
`;
}

function tempDir(t: Teardownable): string {
  const dir = mkdtempSync(join(tmpdir(), 'menshen-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Replaces the file the way editors and Kubernetes do: write aside, then rename over it. */
function replaceFile(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

async function serve(t: Teardownable, file: string, port: number): Promise<MenshenProcess> {
  const proc = spawnMenshen(t, ['serve', '--config', file]);
  await Promise.race([
    proc.logs.waitFor((l) => l.msg.startsWith('Server listening')),
    proc.exited.then((code) => {
      throw new Error(`menshen exited with ${code}: ${proc.stderr()}`);
    }),
  ]);
  await waitFor('/readyz', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200);
  return proc;
}

const whoAnswers = async (base: string) => ((await (await fetch(`${base}/app/x`)).json()) as { upstream: string }).upstream;

t.test('SIGHUP: a broken file keeps the old routes, a good one changes routing; SIGTERM drains a held request', async (t) => {
  const [one, two] = await Promise.all([startHoldingUpstream(t, 'one'), startHoldingUpstream(t, 'two')]);
  const port = await freePort();
  const metricsPort = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const file = join(tempDir(t), 'menshen.yaml');
  const server = `  metricsListen: 127.0.0.1:${metricsPort}\n  watchConfig: false\n  shutdownTimeout: 20`;
  const prefix = uniquePrefix();
  writeFileSync(file, yaml({ port, upstream: one.url, store: 'redis', prefix, server }));
  const proc = await serve(t, file, port);
  t.equal(await whoAnswers(base), 'one');

  writeFileSync(
    file,
    yaml({ port, upstream: two.url, store: 'redis', prefix, server, routes: `    - { name: app, match: { pathPrefix: /app }, upstream: "ftp://${two.url}", auth: none, colour: blue }` }),
  );
  proc.signal('SIGHUP');
  const refused = await proc.logs.waitFor((l) => l.msg.startsWith('config reload refused') && l.trigger === 'SIGHUP');
  t.equal(refused.level, 50);
  t.match(refused.problems, ['gateway.routes[0].colour: unexpected property', 'gateway.routes[0].upstream: must be an absolute http(s) URL']);
  t.equal(await whoAnswers(base), 'one', 'the old routes keep serving');

  writeFileSync(file, yaml({ port, upstream: two.url, store: 'redis', prefix, server }));
  proc.signal('SIGHUP');
  const applied = await proc.logs.waitFor((l) => l.msg === 'config reloaded' && l.trigger === 'SIGHUP');
  t.same(applied.changed, ['gateway.routes']);
  t.equal(await whoAnswers(base), 'two', 'the new routes serve without a restart');

  const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  t.equal(sample(scraped, 'menshen_config_reloads_total', { outcome: 'rejected' }), 1, 'on the metrics listener');
  t.equal(sample(scraped, 'menshen_config_reloads_total', { outcome: 'applied' }), 1);
  const publicMetrics = await fetch(`${base}/metrics`);
  t.notMatch(await publicMetrics.text(), /menshen_http_requests_total/, 'not on the public port');

  await drainTest(t, proc, two, port, base);
  t.equal(await proc.exited, 0, 'exit code 0');
  t.ok(proc.logs.lines.some((l) => l.msg === 'stopped' && l.outcome === 'drained'));
});

async function drainTest(t: Test, proc: MenshenProcess, upstream: HoldingUpstream, port: number, base: string) {
  const response = fetch(`${base}/app/hold/1`);
  const held = await upstream.nextHeld();
  proc.signal('SIGTERM');
  await proc.logs.waitFor((l) => l.msg.startsWith('shutting down'));
  await waitFor('new connections to be refused', () => connectionRefused(port));
  t.pass('new connections are refused while a request is in flight');
  held.release();
  const res = await response;
  t.equal(res.status, 200, 'the in-flight request completes');
  t.same(await res.json(), { upstream: upstream.name, url: '/app/hold/1' });
}

t.test('a file change reloads without a signal; the drain is bounded by shutdownTimeout', async (t) => {
  const [one, two] = await Promise.all([startHoldingUpstream(t, 'one'), startHoldingUpstream(t, 'two')]);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const file = join(tempDir(t), 'menshen.yaml');
  const server = '  shutdownTimeout: 1';
  writeFileSync(file, yaml({ port, upstream: one.url, server }));
  const proc = await serve(t, file, port);
  t.equal(await whoAnswers(base), 'one');

  replaceFile(file, yaml({ port, upstream: two.url, server }));
  const applied = await proc.logs.waitFor((l) => l.msg === 'config reloaded');
  t.equal(applied.trigger, 'file');
  t.equal(await whoAnswers(base), 'two');

  const stuck = fetch(`${base}/app/hold/forever`).then(
    () => 'answered',
    (err: Error) => err,
  );
  await two.nextHeld(); // never released
  proc.signal('SIGTERM');
  t.equal(await proc.exited, 1, 'exit code 1 when requests had to be cut');
  t.ok(proc.logs.lines.some((l) => l.msg.includes('did not finish in time')), 'logged');
  t.type(await stuck, Error, 'the stuck request was cut, not left hanging');
});

t.test('start-up failures: every problem listed with exit 2; a taken port is exit 1 with a clear message', async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, yaml({ port, upstream: 'http://127.0.0.1:9', server: '  shutdownTimeout: -1\n  watchConfig: maybe', routes: '    - { name: x, upstream: "nope" }' }));
  const noCa = join(dir, 'no-ca.yaml');
  writeFileSync(noCa, `store: { type: redis, redis: { url: "rediss://127.0.0.1:1", tlsCaFile: ${join(dir, 'missing-ca.pem')} } }\n`);
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const ok = join(dir, 'ok.yaml');
  writeFileSync(ok, yaml({ port, upstream: 'http://127.0.0.1:9' }));

  // Three processes at once: each spends most of its time starting node and tsx.
  const check = spawnMenshen(t, ['check-config', '--config', bad]);
  const tls = spawnMenshen(t, ['serve', '--config', noCa]);
  const taken = spawnMenshen(t, ['serve', '--config', ok]);

  t.equal(await check.exited, 2);
  t.match(check.stderr(), /server\.shutdownTimeout: .*\n.*server\.watchConfig: .*\n.*gateway\.routes\[0\]\.upstream: must be an absolute http\(s\) URL/s);
  t.equal(await tls.exited, 2);
  t.match(tls.stderr(), /store\.redis\.tlsCaFile: cannot read/);
  t.equal(await taken.exited, 1);
  t.match(taken.stderr(), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(server\\.listen\\): EADDRINUSE`));
  for (const p of [check, tls, taken]) t.notMatch(p.stderr(), /\n\s+at /, 'no stack trace');
});
