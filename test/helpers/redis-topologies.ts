/**
 * Real Redis topologies for tests, all on 127.0.0.1 and torn down by the caller:
 * - startSentinelSet(): a master, one replica and two sentinels (Debian redis-sentinel);
 * - startCluster(): three masters joined with `redis-cli --cluster create`;
 * - makeTestCa() + TLS arguments for redis-server.
 * Waits are for a condition (replication link up, cluster_state:ok), bounded, never a fixed sleep.
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, startRedis, type RedisProcess } from './redis-server.js';

const run = promisify(execFile);

/** Polls `check` until it returns true; throws naming `what` after `deadlineMs`. */
export async function waitFor(what: string, check: () => Promise<boolean>, deadlineMs = 15_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** A short-lived admin connection (no prefix, no retries) for setting up and inspecting nodes. */
export async function adminCommand(port: number, ...args: (string | number)[]): Promise<unknown> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  try {
    await c.connect();
    return await c.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    c.disconnect();
  }
}

const infoField = (info: unknown, field: string) => new RegExp(`^${field}:(.*)$`, 'm').exec(String(info))?.[1]?.trim();

export function sentinelBinary(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-sentinel'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

interface SentinelProcess {
  port: number;
  stop(): Promise<void>;
}

async function startSentinel(masterName: string, masterPort: number): Promise<SentinelProcess> {
  const bin = sentinelBinary();
  if (!bin) throw new Error('redis-sentinel not found: apt-get install redis-sentinel');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'menshen-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  // Sentinel rewrites its config file, so each gets its own writable copy.
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${masterName} 2000`,
      `sentinel failover-timeout ${masterName} 10000`,
      '',
    ].join('\n'),
  );
  const proc: ChildProcess = spawn(bin, [conf], { stdio: 'ignore' });
  await waitFor(`sentinel on ${port}`, async () => {
    if (proc.exitCode !== null) throw new Error(`redis-sentinel exited with ${proc.exitCode}`);
    return (await adminCommand(port, 'PING')) === 'PONG';
  });
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (proc.exitCode !== null) return done();
        proc.once('exit', done);
        proc.kill('SIGKILL');
      }),
  };
}

export interface SentinelSet {
  name: string;
  master: RedisProcess;
  replica: RedisProcess;
  sentinels: SentinelProcess[];
  /** host:port of each sentinel, as store.redis.sentinel.nodes wants them. */
  nodes: string[];
  /** The port of the node the sentinels currently call master. */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

export async function startSentinelSet(name = 'mymaster'): Promise<SentinelSet> {
  const master = await startRedis();
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(master.port)]);
  const sentinels: SentinelProcess[] = [];
  const stop = async () => {
    await Promise.all([...sentinels.map((s) => s.stop()), master.stop(), replica.stop()]);
  };
  try {
    await waitFor('replica link up', async () => infoField(await adminCommand(replica.port, 'INFO', 'replication'), 'master_link_status') === 'up');
    // Started after the replica is attached: a sentinel learns replicas from the master's INFO.
    for (let i = 0; i < 2; i++) sentinels.push(await startSentinel(name, master.port));
    await waitFor('sentinels to see the replica', async () => {
      for (const s of sentinels) {
        const replicas = (await adminCommand(s.port, 'SENTINEL', 'REPLICAS', name)) as unknown[];
        if (replicas.length !== 1) return false;
      }
      return true;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name,
    master,
    replica,
    sentinels,
    nodes: sentinels.map((s) => `127.0.0.1:${s.port}`),
    masterPort: async () => Number(((await adminCommand(sentinels[0]!.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[])[1]),
    stop,
  };
}

export interface RedisCluster {
  nodes: RedisProcess[];
  /** host:port of each master, as store.redis.cluster.nodes wants them. */
  seeds: string[];
  stop(): Promise<void>;
}

export async function startCluster(size = 3): Promise<RedisCluster> {
  const nodes: RedisProcess[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < size; i++) {
      // The cluster bus gets its own free port (cluster-port), rather than port + 10000, which
      // may be taken or past 65535 for an ephemeral port.
      const busPort = await freePort();
      nodes.push(
        await startRedis([
          '--cluster-enabled', 'yes',
          '--cluster-config-file', 'nodes.conf',
          '--cluster-node-timeout', '2000',
          '--cluster-port', String(busPort),
        ]),
      );
    }
    const seeds = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run('redis-cli', ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes']);
    await waitFor('cluster_state:ok on every node', async () => {
      for (const n of nodes) if (infoField(await adminCommand(n.port, 'CLUSTER', 'INFO'), 'cluster_state') !== 'ok') return false;
      return true;
    });
    return { nodes, seeds, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface TestCa {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** redis-server arguments for a TLS listener on `tlsPort` with this certificate. */
  redisArgs(tlsPort: number): string[];
  remove(): void;
}

/** A throwaway CA and a server certificate for 127.0.0.1 / `redis.test`, made with openssl. */
export async function makeTestCa(): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), 'menshen-tls-'));
  const f = (n: string) => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=menshen test CA']);
  await run('openssl', ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=redis.test']);
  writeFileSync(f('ext.cnf'), 'subjectAltName=DNS:redis.test,IP:127.0.0.1\n');
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '1', '-extfile', f('ext.cnf')]);
  return {
    dir,
    caFile: f('ca.crt'),
    certFile: f('server.crt'),
    keyFile: f('server.key'),
    redisArgs: (tlsPort) => [
      '--tls-port', String(tlsPort),
      '--tls-cert-file', f('server.crt'),
      '--tls-key-file', f('server.key'),
      '--tls-ca-cert-file', f('ca.crt'),
      '--tls-auth-clients', 'no',
    ],
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
