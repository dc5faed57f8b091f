/**
 * One autocannon run, summarised. autocannon keeps latencies in an HDR histogram with 1 ms
 * resolution, too coarse for "p99 within 2 ms"; so every response time (a float, ms, measured by
 * autocannon with process.hrtime) is also collected from its `response` events and the
 * percentiles are computed exactly from those.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The part of autocannon's API used here (the package ships no types). */
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (req: AutocannonRequest) => AutocannonRequest;
}
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
  requests: { average: number; total: number; sent: number };
}
interface AutocannonInstance {
  on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  on(event: 'done', fn: (r: AutocannonResult) => void): void;
  on(event: 'error', fn: (e: Error) => void): void;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, r: AutocannonResult) => void) => AutocannonInstance;
const autocannon = require('autocannon') as Autocannon;

export interface LoadOptions {
  /** Base URL plus path of the target. */
  url: string;
  connections: number;
  /** seconds */
  duration: number;
  /** run exactly this many requests instead of for `duration` */
  amount?: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** A fixed body, or one built per request (one-time codes and tokens). */
  body?: string | (() => string);
  /** Per request headers (e.g. a different session cookie each time). */
  headersFor?: () => Record<string, string>;
}

export interface LoadResult {
  /** completed responses per second over the run */
  rps: number;
  total: number;
  /** ms, exact over every response */
  p50: number;
  p99: number;
  mean: number;
  /** responses that were not 2xx, and connection errors/timeouts: a clean run has none */
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCounts: Record<string, number>;
  connections: number;
  /**
   * CPU time the measured server process used per answered request, µs (when measured: see
   * onServer). On a shared machine this moves far less with background load than req/s does.
   */
  serverCpuUsPerRequest?: number;
  /** measured seconds, over every run merged into this result */
  durationSeconds: number;
  /** how many autocannon runs were merged */
  runs: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** One autocannon run, unsummarised: what `summarize` merges across interleaved rounds. */
export interface LoadSample {
  times: Float64Array;
  seconds: number;
  connections: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCounts: Record<string, number>;
  /** CPU time the measured server process used during the run, ms (when measured) */
  serverCpuMs?: number;
}

/** Runs a sample and records the CPU time the server process used meanwhile. */
export async function onServer(server: { cpuMs(): number }, run: () => Promise<LoadSample>): Promise<LoadSample> {
  const before = server.cpuMs();
  const sample = await run();
  return { ...sample, serverCpuMs: server.cpuMs() - before };
}

export async function runLoadSample(o: LoadOptions): Promise<LoadSample> {
  const target = new URL(o.url);
  const base: AutocannonRequest = {
    method: o.method ?? 'GET',
    path: target.pathname + target.search,
    headers: { ...(o.headers ?? {}) },
  };
  if (typeof o.body === 'string') base.body = o.body;
  const dynamic = typeof o.body === 'function' || o.headersFor !== undefined;
  const bodyFn = typeof o.body === 'function' ? o.body : undefined;
  if (dynamic) {
    base.setupRequest = (req) => ({
      ...req,
      ...(bodyFn ? { body: bodyFn() } : {}),
      ...(o.headersFor ? { headers: { ...base.headers, ...o.headersFor() } } : {}),
    });
  }

  let times = new Float64Array(1 << 16);
  let n = 0;
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const inst = autocannon(
      {
        url: target.origin,
        connections: o.connections,
        ...(o.amount !== undefined ? { amount: o.amount } : { duration: o.duration }),
        pipelining: 1,
        requests: [base],
        // A slow request is a result, not an error: only give up on a truly stuck server.
        timeout: 30,
      },
      (err, r) => (err ? reject(err) : resolve(r)),
    );
    inst.on('response', (_c, _status, _bytes, ms) => {
      if (n === times.length) {
        const grown = new Float64Array(times.length * 2);
        grown.set(times);
        times = grown;
      }
      times[n++] = ms;
    });
  });

  const statusCounts: Record<string, number> = {};
  for (const [code, st] of Object.entries(result.statusCodeStats)) statusCounts[code] = st.count;
  return {
    times: times.slice(0, n),
    seconds: result.duration,
    connections: o.connections,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCounts,
  };
}

/** One result over several runs of the same target: totals add up, percentiles over every response. */
export function summarize(samples: readonly LoadSample[]): LoadResult {
  const n = samples.reduce((a, x) => a + x.times.length, 0);
  const all = new Float64Array(n);
  let at = 0;
  for (const x of samples) {
    all.set(x.times, at);
    at += x.times.length;
  }
  const sorted = all.sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const seconds = samples.reduce((a, x) => a + x.seconds, 0);
  const statusCounts: Record<string, number> = {};
  for (const x of samples) for (const [code, c] of Object.entries(x.statusCounts)) statusCounts[code] = (statusCounts[code] ?? 0) + c;
  const cpuMeasured = samples.length > 0 && samples.every((x) => x.serverCpuMs !== undefined);
  const serverCpuMs = samples.reduce((a, x) => a + (x.serverCpuMs ?? 0), 0);
  return {
    ...(cpuMeasured && n > 0 ? { serverCpuUsPerRequest: (serverCpuMs * 1000) / n } : {}),
    rps: seconds > 0 ? n / seconds : NaN,
    total: n,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: n ? sum / n : NaN,
    non2xx: samples.reduce((a, x) => a + x.non2xx, 0),
    errors: samples.reduce((a, x) => a + x.errors, 0),
    timeouts: samples.reduce((a, x) => a + x.timeouts, 0),
    statusCounts,
    connections: samples[0]?.connections ?? 0,
    durationSeconds: seconds,
    runs: samples.length,
  };
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  return summarize([await runLoadSample(o)]);
}

/**
 * Measures several targets in `rounds` interleaved rounds (A B C, then C B A, ...), each target
 * for `seconds / rounds` per round, so that a change in background load during the run is
 * spread over every target instead of landing on one. Returns one merged result per target.
 */
export async function interleaved<T>(
  targets: readonly T[],
  rounds: number,
  run: (target: T, round: number) => Promise<LoadSample>,
): Promise<LoadResult[]> {
  const samples: LoadSample[][] = targets.map(() => []);
  for (let r = 0; r < rounds; r++) {
    const order = targets.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) samples[i]!.push(await run(targets[i]!, r));
  }
  return samples.map(summarize);
}

/** A clean run: something was answered, every answer 2xx, no socket errors or timeouts. */
export function isClean(r: LoadResult): boolean {
  return r.total > 0 && r.non2xx === 0 && r.errors === 0 && r.timeouts === 0;
}
