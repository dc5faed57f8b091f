/**
 * `npm test`: starts one throwaway redis-server (unless REDIS_URL is set), runs the tap suite with
 * REDIS_URL pointing at it, stops it, and prints a closing 'N passed, N failed' line.
 * Extra arguments go to tap (e.g. `npm test -- test/store`).
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { startRedis, redisServerBinary, type RedisProcess } from './helpers/redis-server.js';

async function main(): Promise<number> {
  let redis: RedisProcess | undefined;
  const env = { ...process.env };
  if (!env.REDIS_URL) {
    if (!redisServerBinary()) {
      process.stderr.write('npm test needs Redis: install redis-server (apt-get install redis-server) or set REDIS_URL\n');
      return 1;
    }
    redis = await startRedis();
    env.REDIS_URL = redis.url;
  }
  process.stdout.write(`test redis: ${env.REDIS_URL}\n`);
  const args = process.argv.slice(2);
  // tap only picks up .ts files it is named explicitly (its ts-node plugin is off: tsx runs them),
  // so a directory argument becomes a glob of its test files.
  const files = args.length
    ? args.map((a) => (existsSync(a) && statSync(a).isDirectory() ? `${a.replace(/\/+$/, '')}/**/*.test.ts` : a))
    : ['test/**/*.test.ts'];
  const code = await new Promise<number>((resolve) => {
    const child = spawn('node_modules/.bin/tap', files, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      process.stdout.write(d);
      out += d.toString();
      if (out.length > 1 << 20) out = out.slice(-65536);
    });
    child.on('exit', (c) => {
      // tap's base reporter ends with "# { total: N, pass: N, fail: N, ... }"-like lines; repeat the
      // totals as the plain closing line CI reads.
      const summary = [...out.matchAll(/# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?/g)].pop();
      const passed = summary ? Number(summary[2] ?? 0) : 0;
      // No summary at all (tap crashed) counts as a failure.
      // A test file that crashed or exited non-zero fails the run even when its asserts passed.
      const failed = Math.max(summary ? Number(summary[3] ?? 0) : 1, c === 0 ? 0 : 1);
      process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
      resolve(c ?? 1);
    });
  });
  await redis?.stop();
  return code;
}

main().then((c) => process.exit(c), (err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
