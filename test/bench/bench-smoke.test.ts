/**
 * Proves the benchmark harness works, not how fast anything is: every scenario of `npm run bench`
 * runs for about a second with tiny connection counts on a private redis-server (the gateway
 * bench writes sessions there), and each must have answered real requests with the expected
 * status only. No assertion here looks at a speed.
 */
import t, { type Test } from 'tap';
import { startRedis } from '../helpers/redis-server.js';
import { runProviderBench } from '../../bench/provider/bench.js';
import { runGatewayBench } from '../../bench/gateway/bench.js';
import { providerReport } from '../../bench/provider/bench.js';
import { gatewayReport } from '../../bench/gateway/bench.js';
import type { LoadResult } from '../../bench/lib/load.js';

const answeredCleanly = (tt: Test, name: string, l: LoadResult, status = '200') => {
  tt.ok(l.total > 0, `${name}: requests were answered`);
  tt.same(Object.keys(l.statusCounts), [status], `${name}: every response was ${status}`);
  tt.equal(l.non2xx, 0, `${name}: no non-2xx`);
  tt.equal(l.errors + l.timeouts, 0, `${name}: no socket errors or timeouts`);
};

// Both benchmarks at once on one private Redis (the harness is under test, not the speed).
const redis = await startRedis();
t.teardown(() => redis.stop());
const [provider, gateway] = await Promise.all([
  runProviderBench({ duration: 1, warmup: 0, rounds: 2, connections: 2, redisUrl: redis.url }),
  runGatewayBench({ duration: 1, warmup: 0, rounds: 2, connections: 2, sessions: 200, memoryRequests: 100, latencyConnections: 1, keptReadings: { count: 2, intervalMs: 100 }, redisUrl: redis.url }),
]);

t.test('provider token endpoint: both grants against oidc-provider and menshen (memory and Redis)', async (tt) => {
  const r = provider;
  tt.same(
    r.rows.map((row) => `${row.grant}/${row.side}`),
    ['authorization_code', 'refresh_token'].flatMap((g) => ['oidc-provider', 'menshen', 'menshen-redis'].map((s) => `${g}/${s}`)),
    'every grant ran against every server',
  );
  for (const row of r.rows) {
    answeredCleanly(tt, `${row.grant} on ${row.label}`, row.load);
    tt.equal(row.load.runs, 2, `${row.grant} on ${row.label}: measured in two interleaved rounds`);
    tt.ok(row.taken >= row.load.total && row.taken <= row.pool, `${row.grant} on ${row.label}: one fresh handle per request, within the pool`);
    tt.match(row.sample, /RS256 JWT access token/, `${row.grant} on ${row.label}: the sample response was checked`);
  }
  tt.equal(r.ratios.length, 2, 'a ratio per grant');
  tt.ok(r.signaturesPerSecond > 0, 'the signing capacity was measured');
  tt.match(providerReport(r).join('\n'), /\| authorization_code \| menshen \(memory store\) \|/, 'the report has the rows');
});

t.test('gateway: upstream, bare proxy, menshen with a real login; Redis bytes; RSS phases', async (tt) => {
  const r = gateway;
  tt.same(r.scenarios.map((s) => s.id), ['a', 'b', 'c'], 'the three scenarios ran');
  for (const s of r.scenarios) {
    answeredCleanly(tt, s.name, s.load);
    tt.equal(s.load.runs, 2, `${s.name}: measured in two interleaved rounds`);
  }
  answeredCleanly(tt, 'light-load (b)', r.lightP99.b);
  answeredCleanly(tt, 'light-load (c)', r.lightP99.c);
  tt.equal(r.upstreamSeen.anonymous, 0, 'every request menshen forwarded carried identity headers');
  tt.ok(r.upstreamSeen.identified >= r.scenarios[2]!.load.total + r.lightP99.c.total, 'the upstream saw every answered (c) request');
  tt.ok(r.redis.sessionKeyBytes > 0 && r.redis.anatomy.sealedBytes > 0, 'the real session was measured in Redis');
  tt.ok(r.redis.anatomy.members.at! > 0 && r.redis.anatomy.members.claims! > 0, 'the session holds tokens and claims');
  tt.equal(r.redis.written, 200, 'the bulk sessions were written');
  answeredCleanly(tt, 'memory phase, one session', r.rss.empty.load);
  answeredCleanly(tt, 'memory phase, one session, the sessions written', r.rss.full.load);
  answeredCleanly(tt, 'memory phase, one request per session', r.rss.spread.load);
  tt.equal(r.rss.spread.load.total, 100, 'the per-session phase sent exactly its requests');
  for (const phase of [r.rss.empty, r.rss.full, r.rss.spread])
    tt.ok(phase.burst.rss > 0 && phase.kept.rss > 0 && phase.kept.heapUsed > 0 && phase.kept.reduced && !phase.burst.reduced, 'the gateway memory was read, after the burst and after a memory-reducing GC');
  tt.match(gatewayReport(r).join('\n'), /Redis bytes per session/, 'the report has the goals');
});
