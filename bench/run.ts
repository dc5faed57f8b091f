/**
 * `npm run bench`: every benchmark of issues 2 and 3 in one run, on a private redis-server,
 * printed as markdown and written to bench/results/latest.md (+ .json). bench/RESULTS.md records
 * the runs we keep, with their commands.
 *
 *   npm run bench                                   everything, defaults below
 *   npm run bench -- --only provider                issue 2 (token endpoint)
 *   npm run bench -- --only gateway                 issue 3 (proxy hot path, Redis bytes, RSS)
 *   npm run bench -- --rounds 2                     measured seconds split into this many interleaved rounds (default 4)
 *   npm run bench -- --duration 20 --connections 100 --sessions 100000 --memory-requests 100000
 *   npm run bench -- --no-redis-provider            skip the extra menshen-on-Redis provider rows
 *   npm run bench -- --no-opaque-provider           skip the provider comparison with opaque access tokens
 *   npm run bench -- --cpu-prof /tmp/prof           V8 CPU profiles of the menshen processes (open in Chrome DevTools)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { startRedis, type RedisProcess } from '../test/helpers/redis-server.js';
import { machineInfo, machineLines } from './lib/report.js';
import { providerReport, runProviderBench, type ProviderBenchResult } from './provider/bench.js';
import { gatewayReport, runGatewayBench, type GatewayBenchResult } from './gateway/bench.js';

const DEFAULTS = { duration: 10, warmup: 2, rounds: 4, connections: 50, sessions: 100_000, memoryRequests: 50_000, latencyConnections: 4 };

class UsageError extends Error {}

function options() {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      sessions: { type: 'string' },
      'memory-requests': { type: 'string' },
      'latency-connections': { type: 'string' },
      out: { type: 'string', default: 'bench/results/latest' },
      'no-redis-provider': { type: 'boolean', default: false },
      'no-opaque-provider': { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
    },
  });
  const num = (name: string, v: string | undefined, def: number, min: number) => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}`);
    return n;
  };
  if (values.only !== undefined && values.only !== 'provider' && values.only !== 'gateway')
    throw new UsageError('--only must be provider or gateway');
  return {
    only: values.only as 'provider' | 'gateway' | undefined,
    duration: num('duration', values.duration, DEFAULTS.duration, 1),
    warmup: num('warmup', values.warmup, DEFAULTS.warmup, 0),
    rounds: num('rounds', values.rounds, DEFAULTS.rounds, 1),
    connections: num('connections', values.connections, DEFAULTS.connections, 1),
    sessions: num('sessions', values.sessions, DEFAULTS.sessions, 1),
    memoryRequests: num('memory-requests', values['memory-requests'], DEFAULTS.memoryRequests, 1),
    latencyConnections: num('latency-connections', values['latency-connections'], DEFAULTS.latencyConnections, 1),
    out: values.out!,
    redisProvider: !values['no-redis-provider'],
    opaqueProvider: !values['no-opaque-provider'],
    cpuProfDir: values['cpu-prof'],
  };
}

async function main(): Promise<void> {
  const o = options();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const machine = machineInfo();
  let redis: RedisProcess | undefined;
  let provider: ProviderBenchResult | undefined;
  let gateway: GatewayBenchResult | undefined;
  try {
    redis = await startRedis();
    log(`bench redis: ${redis.url}`);
    if (o.only !== 'gateway')
      provider = await runProviderBench({
        duration: o.duration,
        warmup: o.warmup,
        rounds: o.rounds,
        connections: o.connections,
        ...(o.redisProvider ? { redisUrl: redis.url } : {}),
        formats: o.opaqueProvider ? ['jwt', 'opaque'] : ['jwt'],
        ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
        log,
      });
    if (o.only !== 'provider')
      gateway = await runGatewayBench({ duration: o.duration, warmup: o.warmup, rounds: o.rounds, connections: o.connections, sessions: o.sessions, memoryRequests: o.memoryRequests, latencyConnections: o.latencyConnections, redisUrl: redis.url, ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}), log });
  } finally {
    await redis?.stop();
  }

  const md = [
    '# menshen benchmark run',
    '',
    ...machineLines(machine),
    `- command: \`${command}\``,
    '',
    ...(provider ? ['## Provider token endpoint (issue 2)', '', ...providerReport(provider), ''] : []),
    ...(gateway ? ['## Gateway (issue 3)', '', ...gatewayReport(gateway), ''] : []),
  ].join('\n');
  process.stdout.write(`${md}\n`);
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(`${o.out}.md`, md);
  writeFileSync(`${o.out}.json`, JSON.stringify({ machine, command, provider, gateway }, null, 2));
  log(`written: ${o.out}.md, ${o.out}.json`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof UsageError ? err.message : (err as Error).stack ?? String(err)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
