/** Plain-text pieces of the benchmark report: the machine, markdown tables, number formats. */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem, platform, release } from 'node:os';

export interface MachineInfo {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  redis: string;
  commit: string;
  /** 1-minute load average when the run started: other work on the machine skews every number */
  loadAtStart: number;
}

function quiet(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  const redis = /v=(\S+)/.exec(quiet('redis-server', ['--version']))?.[1] ?? 'unknown';
  const dirty = quiet('git', ['status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes)' : '';
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    redis,
    commit: quiet('git', ['rev-parse', '--short', 'HEAD']) + dirty,
    loadAtStart: loadavg()[0]!,
  };
}

export function machineLines(m: MachineInfo): string[] {
  return [
    `- date: ${m.date}`,
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}`,
    `- Node ${m.node}, redis-server ${m.redis}, menshen commit ${m.commit}`,
    `- load average (1 min) at start: ${m.loadAtStart.toFixed(2)}, at end: ${loadavg()[0]!.toFixed(2)}${m.loadAtStart > 0.5 * m.cores ? ' (the machine was busy with other work: treat the numbers as rough)' : ''}`,
  ];
}

export function table(headers: string[], rows: Array<Array<string | number>>): string[] {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)];
}

export const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
export const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
export const ratio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');
export const mib = (bytes: number) => (Number.isFinite(bytes) ? (bytes / 2 ** 20).toFixed(1) : 'n/a');
export const pass = (ok: boolean | null) => (ok === null ? 'not measured' : ok ? 'PASS' : 'FAIL');
