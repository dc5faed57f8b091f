/** What every part of the app shares: decorated on the fastify instance as `app.menshen`. */
import type { Config } from './config/schema.js';
import type { KvStore } from './store/store.js';
import type { Clock } from './clock.js';
import type { Metrics } from './ops/metrics.js';

/** A readiness check throws (with a reason in its message) when the part is not ready. */
export type ReadinessCheck = () => Promise<void>;

export interface AppContext {
  readonly config: Config;
  readonly store: KvStore;
  readonly clock: Clock;
  readonly metrics: Metrics;
  /** Named checks /readyz runs; parts register theirs while the app is built. */
  readonly readiness: Map<string, ReadinessCheck>;
  /**
   * Called with a new, already validated Config on SIGHUP / file change (src/ops/reload.ts).
   * A part that can apply changes live registers one (the gateway swaps its route table);
   * a reloader throws to refuse the new config, and the old one keeps serving.
   */
  readonly reloaders: Array<(next: Config) => void | Promise<void>>;
}
