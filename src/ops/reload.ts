/**
 * Live configuration reload, on SIGHUP and when the config file changes.
 *
 * The file is read and validated exactly as at start; a file with problems is refused with every
 * problem logged by its YAML path, and the running configuration keeps serving. A valid file is
 * handed to every `app.menshen.reloaders` entry (the gateway swaps its route table); a reloader
 * that throws refuses it, and the reloaders that had already taken it are given the previous
 * configuration back, so the parts never disagree. `log.level` is applied here. Changes no part
 * applies live (listen address, store, provider clients, ...) are named in a warning: they need a
 * restart. `app.menshen.config` stays the configuration the app was built with.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfigFile } from '../config/load.js';
import { ConfigError, type ConfigProblem } from '../config/validate.js';
import type { Config } from '../config/schema.js';
import { effectiveLevel } from './logger.js';

export type ReloadTrigger = 'SIGHUP' | 'file' | 'manual';

export type ReloadResult =
  | { outcome: 'applied'; changed: string[] }
  | { outcome: 'unchanged' }
  | { outcome: 'rejected'; problems: ConfigProblem[] };

/**
 * What a running process applies: the gateway's route table (its reloader) and the log level (here).
 * A part that learns to apply more registers a reloader and adds its paths here; every other
 * change is accepted into the file but named in a warning as needing a restart.
 */
export const LIVE_PATHS = ['gateway.routes', 'log.level'];

/** Default quiet period after the last file event before reloading (editors write in bursts). */
export const WATCH_DEBOUNCE_MS = 250;

/** Dotted paths (two levels deep: `gateway.routes`, `server.listen`) whose values differ. */
export function changedSections(before: Config, after: Config): string[] {
  const changed: string[] = [];
  const sections = new Set([...Object.keys(before), ...Object.keys(after)]) as Set<keyof Config>;
  for (const section of sections) {
    const a = (before[section] ?? {}) as Record<string, unknown>;
    const b = (after[section] ?? {}) as Record<string, unknown>;
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)]))
      if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) changed.push(`${section}.${key}`);
  }
  return changed;
}

export interface ConfigReloaderOptions {
  file: string;
  /** The configuration the app was built with. */
  initial: Config;
  env?: NodeJS.ProcessEnv;
}

export class ConfigReloader {
  private current: Config;
  /** Reloads run one at a time; a request during a reload runs once more after it. */
  private running: Promise<ReloadResult> | null = null;
  private again: { trigger: ReloadTrigger; waiters: Array<(r: ReloadResult) => void> } | null = null;

  constructor(
    private readonly app: FastifyInstance,
    private readonly opts: ConfigReloaderOptions,
  ) {
    this.current = opts.initial;
  }

  /** The configuration last applied (the initial one until a reload succeeds). */
  get config(): Config {
    return this.current;
  }

  reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    if (!this.running) {
      this.running = this.reloadOnce(trigger).finally(() => this.next());
      return this.running;
    }
    // A reload is under way and may have read the file before this change: run once more after it.
    this.again ??= { trigger, waiters: [] };
    return new Promise((resolve) => this.again!.waiters.push(resolve));
  }

  private next(): void {
    this.running = null;
    const queued = this.again;
    this.again = null;
    if (queued) void this.reload(queued.trigger).then((r) => queued.waiters.forEach((w) => w(r)));
  }

  private async reloadOnce(trigger: ReloadTrigger): Promise<ReloadResult> {
    const log = this.app.log.child({ trigger, file: this.opts.file });
    const { metrics } = this.app.menshen;
    const reject = (problems: ConfigProblem[], msg: string): ReloadResult => {
      metrics.configReloads.inc({ outcome: 'rejected' });
      log.error({ problems: problems.map((p) => `${p.path}: ${p.message}`) }, msg);
      return { outcome: 'rejected', problems };
    };

    let next: Config;
    try {
      next = loadConfigFile(this.opts.file, this.opts.env ?? process.env);
    } catch (err) {
      if (err instanceof ConfigError) return reject(err.problems, 'config reload refused: the running configuration stays');
      throw err;
    }
    const previous = this.current;
    const changed = changedSections(previous, next);
    if (changed.length === 0) {
      log.debug('config reload: no change');
      return { outcome: 'unchanged' };
    }

    const reloaders = this.app.menshen.reloaders;
    for (let i = 0; i < reloaders.length; i++) {
      try {
        await reloaders[i]!(next);
      } catch (err) {
        // Give the parts that already switched the previous configuration back.
        for (let j = i - 1; j >= 0; j--) {
          try {
            await reloaders[j]!(previous);
          } catch (rollbackErr) {
            log.error({ err: rollbackErr }, 'config reload: rollback of an earlier part failed');
          }
        }
        return reject([{ path: '(reload)', message: (err as Error).message }], 'config reload refused by a part of the app: the running configuration stays');
      }
    }

    this.app.log.level = effectiveLevel(next.log.level, this.opts.env ?? process.env);
    this.current = next;
    metrics.configReloads.inc({ outcome: 'applied' });
    const needRestart = changed.filter((c) => !LIVE_PATHS.includes(c));
    log.info({ changed }, 'config reloaded');
    if (needRestart.length > 0) log.warn({ changed: needRestart }, 'config reload: these changes take effect only after a restart');
    return { outcome: 'applied', changed };
  }

  /**
   * Reloads when the file changes. Watches the directory, not the file: editors and Kubernetes
   * replace files (ConfigMap volumes swap a `..data` symlink), which a watch on the file itself
   * loses after the first update. Returns a function that stops watching.
   */
  watch(debounceMs = WATCH_DEBOUNCE_MS): () => void {
    const path = resolve(this.opts.file);
    const name = basename(path);
    let timer: NodeJS.Timeout | undefined;
    let watcher: FSWatcher;
    try {
      watcher = watch(dirname(path), (_event, filename) => {
        const f = filename?.toString();
        if (f && f !== name && !f.startsWith('..')) return;
        clearTimeout(timer);
        timer = setTimeout(() => void this.reload('file').catch((err: unknown) => this.app.log.error({ err }, 'config reload failed')), debounceMs);
        timer.unref();
      });
    } catch (err) {
      this.app.log.warn({ err, file: path }, 'cannot watch the config file; reload with SIGHUP');
      return () => {};
    }
    watcher.on('error', (err) => this.app.log.warn({ err, file: path }, 'config file watch stopped; reload with SIGHUP'));
    watcher.unref();
    return () => {
      clearTimeout(timer);
      watcher.close();
    };
  }
}
