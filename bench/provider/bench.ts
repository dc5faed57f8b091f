/**
 * Issue 2's benchmark: the token endpoint of menshen's provider against panva's oidc-provider,
 * configured alike (fixture.ts), same machine, same run, each server in its own process, for the
 * authorization_code and refresh_token grants. Codes and refresh tokens are one-time, so every
 * request takes the next pre-minted handle; a warm-up run (not recorded) both warms the JIT and
 * sizes the pool of the measured run. Goal: menshen >= 1.5x oidc-provider's requests/s per grant.
 */
import { fileURLToPath } from 'node:url';
import { generateJwkSet } from '../../src/crypto/keystore.js';
import { startChild, type ChildServer } from '../lib/child.js';
import { interleaved, isClean, runLoad, runLoadSample, type LoadOptions, type LoadResult } from '../lib/load.js';
import { int, ms, pass, ratio, table } from '../lib/report.js';
import { rs256SignaturesPerSecond } from './signing-ceiling.js';
import { basicAuth, tokenRequestBody, type GrantKind, type ProviderReady } from './fixture.js';

export const PROVIDER_GOAL = 1.5;
const GRANTS: GrantKind[] = ['authorization_code', 'refresh_token'];

export interface ProviderBenchOptions {
  /** seconds of each measured run */
  duration: number;
  /** seconds of the warm-up run before each */
  warmup: number;
  /** the measured seconds are split into this many rounds, the servers interleaved */
  rounds: number;
  connections: number;
  /** also measure menshen on this Redis (a separate row; the goal compares the memory stores) */
  redisUrl?: string;
  /** write V8 CPU profiles of the menshen servers here (node --cpu-prof) */
  cpuProfDir?: string;
  log?: (line: string) => void;
}

export interface ProviderRow {
  grant: GrantKind;
  side: 'oidc-provider' | 'menshen' | 'menshen-redis';
  label: string;
  load: LoadResult;
  /** handles minted for the measured run, and how many requests asked for one */
  pool: number;
  taken: number;
  /** what one sample response carried, checked before the run */
  sample: string;
}

export interface ProviderBenchResult {
  options: Omit<ProviderBenchOptions, 'log' | 'redisUrl' | 'cpuProfDir'> & { redis: boolean };
  rows: ProviderRow[];
  /** RS256 signatures/s this machine manages (jose, WebCrypto), measured before the servers start */
  signaturesPerSecond: number;
  /** per grant: menshen (memory) req/s ÷ oidc-provider req/s */
  ratios: Array<{ grant: GrantKind; ratio: number; pass: boolean }>;
}

const script = (name: string) => fileURLToPath(new URL(`./${name}`, import.meta.url));

class SampleResponseError extends Error {
  constructor(label: string, grant: string, detail: string) {
    super(`${label} ${grant}: the sample token response is not what the benchmark compares (${detail})`);
    this.name = 'SampleResponseError';
  }
}

/**
 * One real token request before the load, checked for what both sides must issue: an RS256 JWT
 * access token, a refresh token and an id token. Returns a one-line description for the report.
 */
async function checkSample(server: ChildServer<ProviderReady>, grant: GrantKind, handle: string): Promise<string> {
  const res = await fetch(server.ready.tokenEndpoint, {
    method: 'POST',
    headers: { authorization: basicAuth, 'content-type': 'application/x-www-form-urlencoded' },
    body: tokenRequestBody(grant, handle),
  });
  const body = (await res.json()) as Record<string, unknown>;
  const fail = (d: string) => new SampleResponseError(server.ready.label, grant, d);
  if (res.status !== 200) throw fail(`status ${res.status}: ${JSON.stringify(body)}`);
  const at = body.access_token;
  if (typeof at !== 'string' || at.split('.').length !== 3) throw fail('access token is not a JWT');
  const header = JSON.parse(Buffer.from(at.split('.')[0]!, 'base64url').toString()) as { alg?: string };
  if (header.alg !== 'RS256') throw fail(`access token alg ${header.alg}`);
  if (typeof body.refresh_token !== 'string' || body.refresh_token === handle) throw fail('no new refresh token');
  if (typeof body.id_token !== 'string') throw fail('no id token');
  return 'RS256 JWT access token + RS256 id token + new refresh token';
}

/** A request-body generator over a pool of one-time handles; past its end it sends a dud (a visible 400). */
function poolBody(grant: GrantKind, pool: string[]) {
  let next = 0;
  return {
    body: () => tokenRequestBody(grant, pool[next++] ?? 'pool-exhausted'),
    taken: () => next,
  };
}

interface Prepared {
  side: ProviderRow['side'];
  child: ChildServer<ProviderReady>;
  pool: number;
  taken: () => number;
  body: () => string;
  sample: string;
}

/**
 * Checks a sample response, warms the server up and mints the pool of the measured rounds. The
 * pool is sized from the faster of 2.5x the warm-up rate and the signing ceiling, so that a server
 * that speeds up after its warm-up never runs dry (a dry pool shows as non-2xx answers).
 */
async function prepare(
  side: ProviderRow['side'],
  server: ChildServer<ProviderReady>,
  grant: GrantKind,
  o: ProviderBenchOptions,
  ceiling: number,
): Promise<Prepared> {
  const [sampleHandle] = await server.call<string[]>('mint', { grant, count: 1 });
  const sample = await checkSample(server, grant, sampleHandle!);
  let rate = 0;
  if (o.warmup > 0) {
    const warmPool = await server.call<string[]>('mint', { grant, count: Math.ceil(Math.max(1000, 2 * ceiling * o.warmup)) });
    rate = (await runLoad(tokenLoad(server, o, poolBody(grant, warmPool).body, o.warmup))).rps;
  }
  const size = Math.ceil(Math.max(2.5 * rate, ceiling, 500) * o.duration * 1.3) + 20 * o.connections * o.rounds;
  const gen = poolBody(grant, await server.call<string[]>('mint', { grant, count: size }));
  return { side, child: server, pool: size, taken: gen.taken, body: gen.body, sample };
}

function tokenLoad(server: ChildServer<ProviderReady>, o: ProviderBenchOptions, body: () => string, duration: number): LoadOptions {
  return {
    url: server.ready.tokenEndpoint,
    method: 'POST',
    connections: o.connections,
    duration,
    headers: { authorization: basicAuth, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  };
}

export async function runProviderBench(o: ProviderBenchOptions): Promise<ProviderBenchResult> {
  const log = o.log ?? (() => {});
  const jwks = await generateJwkSet('RS256'); // one key, given to both sides
  const servers: Array<{ side: ProviderRow['side']; child: ChildServer<ProviderReady> }> = [];
  log('provider: measuring the RS256 signing capacity of this machine (2 s)');
  const signaturesPerSecond = await rs256SignaturesPerSecond(jwks, Math.min(2, o.duration));
  log(`  ${int(signaturesPerSecond)} signatures/s`);
  try {
    // Started together (each compiles its TypeScript on start); a failed start stops the others.
    const sides: Array<[ProviderRow['side'], string, object]> = [
      ['oidc-provider', 'oidc-provider-server.ts', { jwks }],
      ['menshen', 'menshen-server.ts', { jwks }],
      ...(o.redisUrl ? [['menshen-redis', 'menshen-server.ts', { jwks, redisUrl: o.redisUrl }] as [ProviderRow['side'], string, object]] : []),
    ];
    const started = await Promise.allSettled(
      sides.map(async ([side, file, options]) => {
        const profile = o.cpuProfDir && side !== 'oidc-provider' ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
        const child = await startChild<ProviderReady>(script(file), options, { execArgv: profile });
        servers.push({ side, child });
        return child;
      }),
    );
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    servers.sort((a, b) => sides.findIndex((s) => s[0] === a.side) - sides.findIndex((s) => s[0] === b.side));

    const rows: ProviderRow[] = [];
    for (const grant of GRANTS) {
      const prepared: Prepared[] = [];
      for (const { side, child } of servers) {
        log(`provider: ${grant}: checking and warming up ${child.ready.label} (${o.warmup} s)`);
        prepared.push(await prepare(side, child, grant, o, signaturesPerSecond / 2));
      }
      log(`provider: ${grant}: ${o.rounds} interleaved rounds of ${o.duration / o.rounds} s per server, ${o.connections} connections`);
      const loads = await interleaved(prepared, o.rounds, (p) => runLoadSample(tokenLoad(p.child, o, p.body, o.duration / o.rounds)));
      prepared.forEach((p, i) => {
        const load = loads[i]!;
        rows.push({ grant, side: p.side, label: p.child.ready.label, load, pool: p.pool, taken: p.taken(), sample: p.sample });
        log(`  ${p.child.ready.label}: ${int(load.rps)} req/s, p50 ${ms(load.p50)} ms, p99 ${ms(load.p99)} ms, non-2xx ${load.non2xx}, errors ${load.errors}`);
      });
    }
    const ratios = GRANTS.map((grant) => {
      const them = rows.find((r) => r.grant === grant && r.side === 'oidc-provider')!;
      const us = rows.find((r) => r.grant === grant && r.side === 'menshen')!;
      const r = us.load.rps / them.load.rps;
      return { grant, ratio: r, pass: r >= PROVIDER_GOAL && isClean(us.load) && isClean(them.load) };
    });
    return { options: { duration: o.duration, warmup: o.warmup, rounds: o.rounds, connections: o.connections, redis: Boolean(o.redisUrl) }, signaturesPerSecond, rows, ratios };
  } finally {
    await Promise.all(servers.map((s) => s.child.stop()));
  }
}

export function providerReport(r: ProviderBenchResult): string[] {
  const out = [
    `Token endpoint, ${r.options.connections} connections; per row ${r.options.warmup} s warm-up (not recorded), then ${r.options.duration} s measured in ${r.options.rounds} rounds interleaved with the other servers; each request uses a fresh pre-minted code or refresh token.`,
    '',
    ...table(
      ['grant', 'server', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'non-2xx', 'errors', 'pool used'],
      r.rows.map((row) => [
        row.grant,
        row.label,
        int(row.load.rps),
        ms(row.load.p50),
        ms(row.load.p99),
        int(row.load.total),
        row.load.non2xx,
        row.load.errors + row.load.timeouts,
        `${int(row.taken)} / ${int(row.pool)}`,
      ]),
    ),
    '',
    `RS256 signing capacity of this machine (jose over WebCrypto, RSA-2048, 16 in flight, measured before the servers started): ${int(r.signaturesPerSecond)} signatures/s. Every token response of either server carries two (access token, id token): about ${int(r.signaturesPerSecond / 2)} responses/s is the ceiling for both.`,
    '',
    ...table(
      ['grant', 'menshen ÷ oidc-provider (memory stores)', 'goal', 'result'],
      r.ratios.map((x) => [x.grant, ratio(x.ratio), `≥ ${PROVIDER_GOAL}×, 0 errors`, pass(x.pass)]),
    ),
  ];
  return out;
}
