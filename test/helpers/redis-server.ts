/**
 * Starts a throwaway redis-server on a free 127.0.0.1 port (no persistence) and stops it.
 * Used by test/run.ts for the whole suite and by tests that need a Redis of their own (restart,
 * sentinel, cluster).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The lowest port of the kernel's ephemeral range (what listen(0) and outgoing connections use),
 * or null when it cannot be read.
 */
function ephemeralLow(): number | null {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : null;
  } catch {
    return null;
  }
}

const FIXED_RANGE_START = 10_000;

function tryListen(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(null));
    srv.listen(port, '127.0.0.1', () => {
      const { port: got } = srv.address() as { port: number };
      srv.close(() => resolve(got));
    });
  });
}

/**
 * A port that was free a moment ago, for a server whose URL must be known before it listens.
 * Chosen at random BELOW the ephemeral range: a port from listen(0) could be handed to another
 * test's listen(0) (an issuer, an upstream: tap runs two files at once) between this probe and
 * the caller's listen, which made CI fail with EADDRINUSE now and then; no listen(0) and no
 * outgoing connection ever takes a port below that range.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  if (low !== null && low > FIXED_RANGE_START + 1000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = FIXED_RANGE_START + Math.floor(Math.random() * (low - FIXED_RANGE_START));
      const got = await tryListen(port);
      if (got !== null) return got;
    }
  }
  const any = await tryListen(0);
  if (any === null) throw new Error('no free port');
  return any;
}

export function redisServerBinary(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export interface RedisProcess {
  port: number;
  url: string;
  stop(): Promise<void>;
  /** Kills the server but keeps the port, for restart tests. */
  kill(): Promise<void>;
  restart(): Promise<void>;
}

async function waitForPort(port: number, proc: ChildProcess, deadlineMs = 10_000): Promise<void> {
  const { Socket } = await import('node:net');
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('connect', () => {
        s.write('PING\r\n');
      });
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
      s.once('error', () => resolve(false));
      s.connect(port, '127.0.0.1');
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not start on port ${port}`);
}

export async function startRedis(extraArgs: string[] = [], port?: number): Promise<RedisProcess> {
  const bin = redisServerBinary();
  if (!bin) throw new Error('redis-server not found: install it (apt-get install redis-server) or set REDIS_URL');
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'menshen-redis-'));
  let proc: ChildProcess;
  const launch = async () => {
    proc = spawn(bin, ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs], {
      stdio: 'ignore',
    });
    await waitForPort(p, proc);
  };
  const kill = () =>
    new Promise<void>((resolve) => {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  await launch();
  return {
    port: p,
    url: `redis://127.0.0.1:${p}/0`,
    kill,
    restart: launch,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
