/**
 * Issue 2's benchmark: the token endpoint of menshen's provider against panva's oidc-provider,
 * configured alike (fixture.ts), same machine, same run, each server in its own process, for the
 * authorization_code and refresh_token grants. Codes and refresh tokens are one-time, so every
 * request takes the next pre-minted handle; a warm-up run (not recorded) both warms the JIT and
 * sizes the pool of the measured run. Goal: menshen >= 1.5x oidc-provider's requests/s per grant.
 *
 * Two configurations, each alike on both sides: RS256 JWT access tokens (two RS256 signatures per
 * response, access and id token) and opaque access tokens (oidc-provider's default format; one
 * signature, the id token's). Each gets its own fresh pair of server processes.
 */
import { generateJwkSet } from '../../src/crypto/keystore.js';
import { siblingScript, startChild, type ChildServer } from '../lib/child.js';
import { interleaved, isClean, onServer, runLoad, runLoadSample, type LoadOptions, type LoadResult } from '../lib/load.js';
import { int, ms, pass, ratio, table } from '../lib/report.js';
import { rs256SignaturesPerSecond } from './signing-ceiling.js';
import { basicAuth, tokenRequestBody, type AccessTokenFormat, type GrantKind, type ProviderReady, type ProviderServerOptions } from './fixture.js';

export const PROVIDER_GOAL = 1.5;
const GRANTS: GrantKind[] = ['authorization_code', 'refresh_token'];
/** RS256 signatures in one token response: the id token's, and the access token's when it is a JWT. */
const signaturesPerResponse = (format: AccessTokenFormat) => (format === 'jwt' ? 2 : 1);

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
  /** access token configurations to compare, in this order (default: RS256 JWT only) */
  formats?: AccessTokenFormat[];
  log?: (line: string) => void;
}

export interface ProviderRow {
  grant: GrantKind;
  format: AccessTokenFormat;
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
  options: Omit<ProviderBenchOptions, 'log' | 'redisUrl' | 'cpuProfDir' | 'formats'> & { redis: boolean; formats: AccessTokenFormat[] };
  rows: ProviderRow[];
  /** RS256 signatures/s this machine manages (jose, WebCrypto), measured before the servers start */
  signaturesPerSecond: number;
  /** per access token format and grant: menshen (memory) req/s ÷ oidc-provider req/s */
  ratios: Array<{ format: AccessTokenFormat; grant: GrantKind; ratio: number; pass: boolean }>;
}

const script = (name: string) => siblingScript(import.meta.url, name);

class SampleResponseError extends Error {
  constructor(label: string, grant: string, detail: string) {
    super(`${label} ${grant}: the sample token response is not what the benchmark compares (${detail})`);
    this.name = 'SampleResponseError';
  }
}

/**
 * One real token request before the load, checked for what both sides must issue: an RS256 JWT
 * access token (or an opaque one, in the opaque configuration), a refresh token and an RS256 id
 * token. Returns a one-line description for the report.
 */
async function checkSample(server: ChildServer<ProviderReady>, grant: GrantKind, format: AccessTokenFormat, handle: string): Promise<string> {
  const res = await fetch(server.ready.tokenEndpoint, {
    method: 'POST',
    headers: { authorization: basicAuth, 'content-type': 'application/x-www-form-urlencoded' },
    body: tokenRequestBody(grant, handle),
  });
  const body = (await res.json()) as Record<string, unknown>;
  const fail = (d: string) => new SampleResponseError(server.ready.label, grant, d);
  if (res.status !== 200) throw fail(`status ${res.status}: ${JSON.stringify(body)}`);
  const alg = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { alg?: string }).alg;
  const at = body.access_token;
  if (typeof at !== 'string' || at === '') throw fail('no access token');
  const isJwt = at.split('.').length === 3;
  if (format === 'jwt' && !isJwt) throw fail('access token is not a JWT');
  if (format === 'opaque' && isJwt) throw fail('access token is a JWT, not opaque');
  if (format === 'jwt' && alg(at) !== 'RS256') throw fail(`access token alg ${alg(at)}`);
  if (typeof body.refresh_token !== 'string' || body.refresh_token === handle) throw fail('no new refresh token');
  if (typeof body.id_token !== 'string' || body.id_token.split('.').length !== 3) throw fail('no id token');
  if (alg(body.id_token) !== 'RS256') throw fail(`id token alg ${alg(body.id_token)}`);
  return `${format === 'jwt' ? 'RS256 JWT' : 'opaque'} access token + RS256 id token + new refresh token`;
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
 * pool is sized from the faster of 2.5x the warm-up rate and twice the signing ceiling (measured
 * before the servers started, possibly on a busier machine), so that a server that speeds up
 * after its warm-up never runs dry (a dry pool shows as non-2xx answers).
 */
async function prepare(
  side: ProviderRow['side'],
  server: ChildServer<ProviderReady>,
  grant: GrantKind,
  format: AccessTokenFormat,
  o: ProviderBenchOptions,
  ceiling: number,
): Promise<Prepared> {
  const [sampleHandle] = await server.call<string[]>('mint', { grant, count: 1 });
  const sample = await checkSample(server, grant, format, sampleHandle!);
  let rate = 0;
  if (o.warmup > 0) {
    const warmPool = await server.call<string[]>('mint', { grant, count: Math.ceil(Math.max(1000, 2 * ceiling * o.warmup)) });
    rate = (await runLoad(tokenLoad(server, o, poolBody(grant, warmPool).body, o.warmup))).rps;
  }
  const size = Math.ceil(Math.max(2.5 * rate, 2 * ceiling, 500) * o.duration * 1.3) + 20 * o.connections * o.rounds;
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
  log('provider: measuring the RS256 signing capacity of this machine (2 s)');
  const signaturesPerSecond = await rs256SignaturesPerSecond(jwks, Math.min(2, o.duration));
  log(`  ${int(signaturesPerSecond)} signatures/s`);
  const formats = o.formats ?? ['jwt'];
  const rows: ProviderRow[] = [];
  for (const format of formats) {
    const servers: Array<{ side: ProviderRow['side']; child: ChildServer<ProviderReady> }> = [];
    try {
      // Started together (each compiles its TypeScript on start); a failed start stops the others.
      // menshen on Redis is an extra row of the JWT configuration only.
      const options: ProviderServerOptions = { jwks, accessTokenFormat: format };
      const sides: Array<[ProviderRow['side'], string, object]> = [
        ['oidc-provider', 'oidc-provider-server.ts', options],
        ['menshen', 'menshen-server.ts', options],
        ...(o.redisUrl && format === 'jwt' ? [['menshen-redis', 'menshen-server.ts', { ...options, redisUrl: o.redisUrl }] as [ProviderRow['side'], string, object]] : []),
      ];
      const started = await Promise.allSettled(
        sides.map(async ([side, file, opts]) => {
          const profile = o.cpuProfDir && side !== 'oidc-provider' ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
          const child = await startChild<ProviderReady>(script(file), opts, { execArgv: profile });
          servers.push({ side, child });
          return child;
        }),
      );
      const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      servers.sort((a, b) => sides.findIndex((s) => s[0] === a.side) - sides.findIndex((s) => s[0] === b.side));

      const ceiling = signaturesPerSecond / signaturesPerResponse(format);
      for (const grant of GRANTS) {
        const prepared: Prepared[] = [];
        for (const { side, child } of servers) {
          log(`provider: ${format} access tokens, ${grant}: checking and warming up ${child.ready.label} (${o.warmup} s)`);
          prepared.push(await prepare(side, child, grant, format, o, ceiling));
        }
        log(`provider: ${format} access tokens, ${grant}: ${o.rounds} interleaved rounds of ${o.duration / o.rounds} s per server, ${o.connections} connections`);
        const loads = await interleaved(prepared, o.rounds, (p) => onServer(p.child, () => runLoadSample(tokenLoad(p.child, o, p.body, o.duration / o.rounds))));
        prepared.forEach((p, i) => {
          const load = loads[i]!;
          rows.push({ grant, format, side: p.side, label: p.child.ready.label, load, pool: p.pool, taken: p.taken(), sample: p.sample });
          log(`  ${p.child.ready.label}: ${int(load.rps)} req/s, p50 ${ms(load.p50)} ms, p99 ${ms(load.p99)} ms, non-2xx ${load.non2xx}, errors ${load.errors}`);
        });
      }
    } finally {
      await Promise.all(servers.map((s) => s.child.stop()));
    }
  }
  const ratios = formats.flatMap((format) =>
    GRANTS.map((grant) => {
      const them = rows.find((r) => r.format === format && r.grant === grant && r.side === 'oidc-provider')!;
      const us = rows.find((r) => r.format === format && r.grant === grant && r.side === 'menshen')!;
      const r = us.load.rps / them.load.rps;
      return { format, grant, ratio: r, pass: r >= PROVIDER_GOAL && isClean(us.load) && isClean(them.load) };
    }),
  );
  return { options: { duration: o.duration, warmup: o.warmup, rounds: o.rounds, connections: o.connections, redis: Boolean(o.redisUrl), formats }, signaturesPerSecond, rows, ratios };
}

const formatName = (f: AccessTokenFormat) => (f === 'jwt' ? 'RS256 JWT access tokens' : 'opaque access tokens');

export function providerReport(r: ProviderBenchResult): string[] {
  const cpu = (l: LoadResult) => (l.serverCpuUsPerRequest === undefined ? 'n/a' : int(l.serverCpuUsPerRequest));
  const rowsOf = (format: AccessTokenFormat) =>
    table(
      ['grant', 'server', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'non-2xx', 'errors', 'pool used', 'server CPU µs/resp'],
      r.rows
        .filter((row) => row.format === format)
        .map((row) => [
          row.grant,
          row.label,
          int(row.load.rps),
          ms(row.load.p50),
          ms(row.load.p99),
          int(row.load.total),
          row.load.non2xx,
          row.load.errors + row.load.timeouts,
          `${int(row.taken)} / ${int(row.pool)}`,
          cpu(row.load),
        ]),
    );
  const ceiling = (format: AccessTokenFormat) => int(r.signaturesPerSecond / signaturesPerResponse(format));
  return [
    `Token endpoint, ${r.options.connections} connections; per row ${r.options.warmup} s warm-up (not recorded), then ${r.options.duration} s measured in ${r.options.rounds} rounds interleaved with the other servers of its configuration; each request uses a fresh pre-minted code or refresh token. Each configuration runs on fresh server processes of its own.`,
    '',
    ...r.options.formats.flatMap((format) => [
      `${formatName(format)} (${signaturesPerResponse(format)} RS256 signature${signaturesPerResponse(format) > 1 ? 's' : ''} per response, at most ~${ceiling(format)} responses/s on this machine):`,
      '',
      ...rowsOf(format),
      '',
    ]),
    'server CPU µs/resp: CPU time (user + system, all threads: RSA signing runs on the libuv thread pool) of the server process per answered request.',
    '',
    `RS256 signing capacity of this machine (node:crypto one-shot sign on the thread pool, as menshen signs; RSA-2048, 16 in flight, measured before the servers started): ${int(r.signaturesPerSecond)} signatures/s. Every token response carries an RS256 id token, and with JWT access tokens a second signature: half that capacity (about ${int(r.signaturesPerSecond / 2)} responses/s) is then the ceiling for both servers.`,
    '',
    ...table(
      ['configuration', 'grant', 'menshen ÷ oidc-provider (memory stores)', 'goal', 'result'],
      r.ratios.map((x) => [formatName(x.format), x.grant, ratio(x.ratio), `≥ ${PROVIDER_GOAL}×, 0 errors`, pass(x.pass)]),
    ),
  ];
}
