/**
 * Starts a throwaway redis-server on a free 127.0.0.1 port (no persistence) and stops it.
 * Used by test/run.ts for the whole suite and by tests that need a Redis of their own (restart,
 * sentinel, cluster).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
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
