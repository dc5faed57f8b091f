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
  durationSeconds: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
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

  const sorted = times.subarray(0, n).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const statusCounts: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats)) statusCounts[code] = s.count;
  return {
    rps: n / result.duration,
    total: n,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: n ? sum / n : NaN,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCounts,
    connections: o.connections,
    durationSeconds: result.duration,
  };
}

/** A clean run: something was answered, every answer 2xx, no socket errors or timeouts. */
export function isClean(r: LoadResult): boolean {
  return r.total > 0 && r.non2xx === 0 && r.errors === 0 && r.timeouts === 0;
}
