/**
 * Issue 3's benchmark, one run, one upstream process:
 *   (a) the upstream directly, (b) a bare @fastify/http-proxy with no auth, (c) menshen with a
 *   valid Redis session (made by a real login through the gateway) on a route with identity
 *   headers and X-Menshen-Assertion.
 * Goals: (c) >= 80% of (b)'s requests/s, and (c)'s p99 within 2 ms of (b)'s.
 * Also: Redis bytes per session (goal <= 3 KB) and the gateway's RSS with 100k sessions in Redis
 * against an empty store (goal: within 20 MB). For the RSS, two fresh gateway processes take the
 * same number of requests: the first all on the one login session (the "empty" store), the second
 * one per session across the 100k; only the number of sessions differs.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { generateJwkSet } from '../../src/crypto/keystore.js';
import { TEST_PASSWORD, TEST_PASSWORD_HASH } from '../../test/helpers/app.js';
import { startChild, type ChildServer } from '../lib/child.js';
import { interleaved, isClean, onServer, runLoad, runLoadSample, type LoadResult, type LoadSample } from '../lib/load.js';
import { int, mib, ms, pass, table } from '../lib/report.js';
import { COOKIE_NAME, GW_USER, REQUEST_PATH, newRunSecrets, type GatewayServerOptions } from './fixture.js';
import { loginThroughGateway } from './login.js';
import type { SessionAnatomy, SessionWriterOptions } from './session-writer.js';

export const THROUGHPUT_GOAL = 0.8;
export const P99_GOAL_MS = 2;
export const SESSION_BYTES_GOAL = 3 * 1024;
export const RSS_GOAL_BYTES = 20 * 2 ** 20;

export interface GatewayBenchOptions {
  duration: number;
  warmup: number;
  /** the measured seconds are split into this many rounds, the scenarios interleaved */
  rounds: number;
  connections: number;
  /** sessions written for the memory measurements */
  sessions: number;
  /** requests in each memory phase; in the second, each goes to a different session */
  memoryRequests: number;
  /** connections of the light-load latency runs of (b) and (c) */
  latencyConnections: number;
  redisUrl: string;
  /** write a V8 CPU profile of the menshen gateway process here (node --cpu-prof) */
  cpuProfDir?: string;
  log?: (line: string) => void;
}

interface UpstreamCounts {
  identified: number;
  anonymous: number;
}

export type ScenarioId = 'a' | 'b' | 'c';

export interface Scenario {
  id: ScenarioId;
  name: string;
  load: LoadResult;
}

interface MemoryFigures {
  rss: number;
  heapUsed: number;
  /** V8 heap reserved (used or free) after the GC: V8 keeps what a busy phase grew it to */
  heapTotal: number;
  /** memory of Buffers and other objects outside the V8 heap */
  external: number;
}

export interface GatewayBenchResult {
  options: Omit<GatewayBenchOptions, 'log' | 'redisUrl' | 'cpuProfDir'>;
  scenarios: Scenario[];
  throughput: { ratio: number; pass: boolean };
  p99: { deltaMs: number; pass: boolean };
  /** (b) and (c) again under a light load, where latency is the hop's own cost rather than queueing */
  lightP99: { connections: number; b: LoadResult; c: LoadResult; deltaMs: number; pass: boolean };
  /** requests of (c) the upstream received with and without menshen's identity headers */
  upstreamSeen: UpstreamCounts;
  redis: {
    /** MEMORY USAGE of the real login's session key */
    sessionKeyBytes: number;
    anatomy: SessionAnatomy;
    /** used_memory growth while the bulk sessions were written, per session (keys + indexes) */
    perSessionBytes: number;
    written: number;
    writeSeconds: number;
    pass: boolean;
  };
  rss: {
    requestsPerPhase: number;
    empty: MemoryFigures;
    full: MemoryFigures;
    deltaBytes: number;
    pass: boolean;
    emptyLoad: LoadResult;
    fullLoad: LoadResult;
  };
}

const script = (name: string) => fileURLToPath(new URL(`./${name}`, import.meta.url));

class GatewayBenchError extends Error {}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const m = /^used_memory:(\d+)/m.exec(info);
  if (!m) throw new GatewayBenchError('INFO memory has no used_memory');
  return Number(m[1]);
}

/** RSS and heap of a child after a full GC (it runs with --expose-gc). */
async function memoryOf(child: ChildServer): Promise<MemoryFigures> {
  const { heapUsed, heapTotal, external, gcForced } = await child.call<{ heapUsed: number; heapTotal: number; external: number; gcForced: boolean }>('memory');
  if (!gcForced) throw new GatewayBenchError('the gateway child must run with --expose-gc');
  return { rss: child.rssBytes(), heapUsed, heapTotal, external };
}

export async function runGatewayBench(o: GatewayBenchOptions): Promise<GatewayBenchResult> {
  const log = o.log ?? (() => {});
  const redis = new Redis(o.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const children: ChildServer[] = [];
  const start = async (name: string, options: unknown, execArgv: string[] = []) => {
    const c = await startChild(script(name), options, { execArgv });
    children.push(c);
    return c;
  };
  let writerReady: Promise<ChildServer> | undefined;
  try {
    await redis.connect();
    const keyPrefix = `bench:gw:${randomUUID().slice(0, 8)}:`;
    const secrets = newRunSecrets();
    const jwks = await generateJwkSet('RS256');

    const upstream = await start('upstream-server.ts', {});
    const gwOptions: GatewayServerOptions = {
      upstream: upstream.ready.url,
      redisUrl: o.redisUrl,
      keyPrefix,
      jwks,
      ...secrets,
      passwordHash: TEST_PASSWORD_HASH,
    };
    const [bare, gateway] = await Promise.all([
      start('bare-proxy-server.ts', { upstream: upstream.ready.url }),
      start('menshen-gateway-server.ts', gwOptions, ['--expose-gc', ...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [])]),
    ]);
    writerReady = start('session-writer.ts', {
      redisUrl: o.redisUrl,
      keyPrefix,
      cookieSecret: secrets.cookieSecret,
      publicUrl: gateway.ready.url,
    } satisfies SessionWriterOptions);
    writerReady.catch(() => {}); // awaited below; a failure surfaces there

    log('gateway: logging in through the gateway (real authorize, login form, callback)');
    const cookie = await loginThroughGateway(gateway.ready.url, REQUEST_PATH, { username: GW_USER.username, password: TEST_PASSWORD }, COOKIE_NAME);
    const check = await fetch(new URL(REQUEST_PATH, gateway.ready.url), { headers: { cookie } });
    await check.arrayBuffer();
    if (check.status !== 200) throw new GatewayBenchError(`the logged-in session is refused by the gateway: ${check.status}`);

    // `server`: the process whose CPU time per request is reported (for (a), the upstream itself).
    const targets: Array<{ id: ScenarioId; name: string; url: string; headers: Record<string, string>; server: ChildServer }> = [
      { id: 'a', name: '(a) upstream directly', url: upstream.ready.url, headers: {}, server: upstream },
      { id: 'b', name: '(b) bare @fastify/http-proxy, no auth', url: bare.ready.url, headers: {}, server: bare },
      { id: 'c', name: '(c) menshen, Redis session, identity headers + assertion', url: gateway.ready.url, headers: { cookie }, server: gateway },
    ];
    // Every load carries its scenario in a header the upstream counts by (identity or not).
    const marked = (t: (typeof targets)[number]) => ({ ...t.headers, 'x-bench-scenario': t.id });
    const sampleOf = (t: (typeof targets)[number], connections: number, seconds: number): Promise<LoadSample> =>
      onServer(t.server, () => runLoadSample({ url: new URL(REQUEST_PATH, t.url).href, connections, duration: seconds, headers: marked(t) }));
    if (o.warmup > 0)
      for (const t of targets) {
        log(`gateway: warming up ${t.name} (${o.warmup} s)`);
        await runLoad({ url: new URL(REQUEST_PATH, t.url).href, connections: o.connections, duration: o.warmup, headers: { ...t.headers, 'x-bench-scenario': 'warm-up' } });
      }
    const perRound = o.duration / o.rounds;
    log(`gateway: ${o.rounds} interleaved rounds of ${perRound} s per scenario, ${o.connections} connections`);
    const loads = await interleaved(targets, o.rounds, (t) => sampleOf(t, o.connections, perRound));
    const scenarios: Scenario[] = targets.map((t, i) => ({ id: t.id, name: t.name, load: loads[i]! }));
    // Under 50 closed-loop connections latency is mostly queueing (Little's law: connections ÷
    // throughput); a light load shows what the hop itself adds. Both are reported.
    log(`gateway: (b) and (c) under a light load: ${o.rounds} interleaved rounds of ${perRound} s, ${o.latencyConnections} connections`);
    const [lightB, lightC] = await interleaved([targets[1]!, targets[2]!], o.rounds, (t) => sampleOf(t, o.latencyConnections, perRound));
    for (const s of scenarios) log(`  ${s.name}: ${int(s.load.rps)} req/s, p50 ${ms(s.load.p50)} ms, p99 ${ms(s.load.p99)} ms, non-2xx ${s.load.non2xx}, errors ${s.load.errors}`);
    const light = { connections: o.latencyConnections, b: lightB!, c: lightC! };
    const b = scenarios.find((s) => s.id === 'b')!.load;
    const c = scenarios.find((s) => s.id === 'c')!.load;
    // Every response of (c) was an upstream answer, so the upstream saw at least that many (c)
    // requests (more: those in flight when autocannon stopped), and each with identity.
    const upstreamSeen = await upstream.call<UpstreamCounts>('counts', { scenario: 'c' });
    const identityOk = upstreamSeen.anonymous === 0 && upstreamSeen.identified >= c.total + light.c.total;
    const clean = isClean(b) && isClean(c) && identityOk;
    const throughput = { ratio: c.rps / b.rps, pass: clean && c.rps >= THROUGHPUT_GOAL * b.rps };
    const p99 = { deltaMs: c.p99 - b.p99, pass: clean && c.p99 - b.p99 <= P99_GOAL_MS };
    const lightP99 = {
      ...light,
      deltaMs: light.c.p99 - light.b.p99,
      pass: isClean(light.b) && isClean(light.c) && identityOk && light.c.p99 - light.b.p99 <= P99_GOAL_MS,
    };
    await Promise.all([bare.stop(), gateway.stop()]);

    // Memory: two fresh gateway processes (same config, same Redis) take the same number of
    // requests: the first all on the one login session (the "empty" store), the second one per
    // session across the bulk sessions. Only the number of sessions differs between them.
    const requestsPerPhase = Math.min(o.memoryRequests, o.sessions);
    const memoryPhase = async (headers: { headers: Record<string, string> } | { headersFor: () => Record<string, string> }) => {
      const g = await startChild(script('menshen-gateway-server.ts'), gwOptions, { execArgv: ['--expose-gc'] });
      try {
        const load = await runLoad({ url: new URL(REQUEST_PATH, g.ready.url).href, connections: o.connections, duration: 0, amount: requestsPerPhase, ...headers });
        return { load, memory: await memoryOf(g) };
      } finally {
        await g.stop();
      }
    };
    log(`gateway: memory, empty store: a fresh gateway, ${int(requestsPerPhase)} requests on the one session`);
    const emptyPhase = await memoryPhase({ headers: { cookie } });

    const writer = await writerReady;
    const sessionKey = await writer.call<string>('keyOf', { cookie });
    const sessionKeyBytes = Number(await redis.call('MEMORY', 'USAGE', sessionKey, 'SAMPLES', '0'));
    const anatomy = await writer.call<SessionAnatomy>('anatomy', { cookie });
    log(`gateway: writing ${int(o.sessions)} sessions with the gateway's session module`);
    const before = await usedMemory(redis);
    const t0 = performance.now();
    const cookies = await writer.call<string[]>('clone', { cookie, count: o.sessions });
    const writeSeconds = (performance.now() - t0) / 1000;
    const perSessionBytes = ((await usedMemory(redis)) - before) / cookies.length;
    await writer.stop();

    log(`gateway: memory, ${int(cookies.length)} sessions: a fresh gateway, ${int(requestsPerPhase)} requests, each on another session`);
    let next = 0;
    const fullPhase = await memoryPhase({ headersFor: () => ({ cookie: cookies[next++ % cookies.length]! }) });
    const [empty, full, emptyLoad, fullLoad] = [emptyPhase.memory, fullPhase.memory, emptyPhase.load, fullPhase.load];
    const deltaBytes = full.rss - empty.rss;

    return {
      options: { duration: o.duration, warmup: o.warmup, rounds: o.rounds, connections: o.connections, sessions: o.sessions, memoryRequests: requestsPerPhase, latencyConnections: o.latencyConnections },
      scenarios,
      throughput,
      p99,
      lightP99,
      upstreamSeen,
      redis: { sessionKeyBytes, anatomy, perSessionBytes, written: cookies.length, writeSeconds, pass: Math.max(sessionKeyBytes, perSessionBytes) <= SESSION_BYTES_GOAL },
      rss: {
        requestsPerPhase,
        empty,
        full,
        deltaBytes,
        pass: isClean(emptyLoad) && isClean(fullLoad) && deltaBytes <= RSS_GOAL_BYTES,
        emptyLoad,
        fullLoad,
      },
    };
  } finally {
    await writerReady?.catch(() => {}); // a child still starting joins `children` before they stop
    await Promise.all(children.map((c) => c.stop()));
    redis.disconnect();
  }
}

const sign = (n: number) => (n >= 0 ? '+' : '');

export function gatewayReport(r: GatewayBenchResult): string[] {
  const b = r.scenarios.find((s) => s.id === 'b')!.load;
  const c = r.scenarios.find((s) => s.id === 'c')!.load;
  const loadRow = (name: string, l: LoadResult) => [name, l.connections, int(l.rps), ms(l.p50), ms(l.p99), int(l.total), l.non2xx, l.errors + l.timeouts];
  const cpu = (l: LoadResult) => (l.serverCpuUsPerRequest === undefined ? 'n/a' : l.serverCpuUsPerRequest.toFixed(0));
  return [
    `GET ${REQUEST_PATH}; per scenario ${r.options.warmup} s warm-up (not recorded), then ${r.options.duration} s measured in ${r.options.rounds} rounds interleaved with the other scenarios (light-load rows: the same, after the others); upstream, proxy and gateway each in their own process.`,
    '',
    ...table(
      ['scenario', 'connections', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'non-2xx', 'errors', 'server CPU µs/req'],
      [
        ...r.scenarios.map((s) => [...loadRow(s.name, s.load), cpu(s.load)]),
        [...loadRow(`${r.scenarios[1]!.name}, light load`, r.lightP99.b), cpu(r.lightP99.b)],
        [...loadRow(`${r.scenarios[2]!.name}, light load`, r.lightP99.c), cpu(r.lightP99.c)],
      ],
    ),
    '',
    'server CPU µs/req: CPU time (user + system) of the process that answered, per answered request: the upstream for (a), the proxy for (b) and (c). Every process shares the same cores, so req/s moves with background load; CPU per request moves far less.',
    '',
    `During the runs of (c) the upstream received ${int(r.upstreamSeen.identified)} requests with X-Auth-Request-User and X-Menshen-Assertion (autocannon counted ${int(c.total + r.lightP99.c.total)} responses; the rest were in flight at the stop) and ${int(r.upstreamSeen.anonymous)} without.`,
    '',
    ...table(
      ['goal', 'measured', 'result'],
      [
        ['(c) req/s ≥ 80% of (b)', `${(r.throughput.ratio * 100).toFixed(1)}% (${int(c.rps)} vs ${int(b.rps)})`, pass(r.throughput.pass)],
        [`(c) p99 within 2 ms of (b), ${r.options.connections} connections`, `${sign(r.p99.deltaMs)}${ms(r.p99.deltaMs)} ms (${ms(c.p99)} vs ${ms(b.p99)})`, pass(r.p99.pass)],
        [
          `(c) p99 within 2 ms of (b), ${r.lightP99.connections} connections`,
          `${sign(r.lightP99.deltaMs)}${ms(r.lightP99.deltaMs)} ms (${ms(r.lightP99.c.p99)} vs ${ms(r.lightP99.b.p99)})`,
          pass(r.lightP99.pass),
        ],
        [
          'Redis bytes per session ≤ 3 KB',
          `${int(r.redis.sessionKeyBytes)} B (MEMORY USAGE of a real login's key); ${int(r.redis.perSessionBytes)} B (used_memory growth per session over ${int(r.redis.written)}, indexes included)`,
          pass(r.redis.pass),
        ],
        [
          `gateway RSS with ${int(r.redis.written)} sessions within 20 MB of an empty store`,
          `${mib(r.rss.full.rss)} MiB vs ${mib(r.rss.empty.rss)} MiB: ${r.rss.deltaBytes >= 0 ? '+' : ''}${mib(r.rss.deltaBytes)} MiB (heap used after GC ${mib(r.rss.full.heapUsed)} vs ${mib(r.rss.empty.heapUsed)} MiB; V8 heap reserved ${mib(r.rss.full.heapTotal)} vs ${mib(r.rss.empty.heapTotal)} MiB; external ${mib(r.rss.full.external)} vs ${mib(r.rss.empty.external)} MiB)`,
          pass(r.rss.pass),
        ],
      ],
    ),
    '',
    `Session anatomy (the real login's): stored value ${int(r.redis.anatomy.sealedBytes)} B, sealed JSON ${int(r.redis.anatomy.jsonBytes)} B, of which ${Object.entries(r.redis.anatomy.members)
      .sort((x, y) => y[1] - x[1])
      .map(([k, v]) => `${k} ${int(v)} B`)
      .join(', ')}.`,
    '',
    `Memory phases (each a fresh gateway process taking ${int(r.rss.requestsPerPhase)} requests, then RSS and heap read after a full GC; ${int(r.redis.written)} sessions written in ${r.redis.writeSeconds.toFixed(1)} s by a separate process):`,
    '',
    ...table(
      ['phase', 'connections', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'non-2xx', 'errors'],
      [loadRow('one session (empty store)', r.rss.emptyLoad), loadRow(`one request per session, ${int(r.redis.written)} sessions`, r.rss.fullLoad)],
    ),
  ];
}
