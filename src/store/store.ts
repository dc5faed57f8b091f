/**
 * The key-value contract every part of menshen stores state through. Two implementations:
 * memory.ts (one replica) and redis.ts (shared); test/store/contract.test.ts runs against both.
 * Keys are given without the configured prefix; implementations add it.
 * Keys that must share a Redis Cluster slot use a hash tag: `sess:{abc}`, `lock:sess:{abc}`.
 */
export interface KvStore {
  /** The value, or null when absent or expired. */
  get(key: string): Promise<string | null>;
  /** Sets a value; ttlSeconds > 0 expires it. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** Sets only when absent (SET NX); true when it was set. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** Reads and deletes in one step (GETDEL): the one-time consumption of a code or handle. */
  take(key: string): Promise<string | null>;
  del(...keys: string[]): Promise<void>;
  /** Adds 1 and returns the new value; the first increment starts a window of ttlSeconds. */
  incr(key: string, ttlSeconds: number): Promise<number>;
  /**
   * Subtracts 1 from an existing counter, keeping its expiry (a refunded reservation); returns the
   * new value, or 0 when the counter is absent (nothing is created).
   */
  decr(key: string): Promise<number>;
  /**
   * Replaces the value only while it still equals `expected` (null: only when absent), in one
   * atomic step; ttlSeconds > 0 sets the new expiry. True when it was replaced. The check-then-write
   * of a state machine (refresh rotation against a concurrent revocation) without a lost update.
   */
  compareAndSet(key: string, expected: string | null, next: string, ttlSeconds?: number): Promise<boolean>;
  /** Remaining lifetime in seconds: -1 no expiry, -2 absent. */
  ttl(key: string): Promise<number>;
  /** Resets the expiry of an existing key. */
  expire(key: string, ttlSeconds: number): Promise<void>;
  /** Set membership, for indexes (user -> sessions, sid -> sessions). */
  sadd(key: string, member: string, ttlSeconds?: number): Promise<void>;
  srem(key: string, member: string): Promise<void>;
  smembers(key: string): Promise<string[]>;
  /** Up to `count` distinct members, chosen at random (SRANDMEMBER with a positive count). */
  srandmember(key: string, count: number): Promise<string[]>;
  /**
   * A lease lock: null when held elsewhere. The holder renews it while it works and releases it
   * when done; release and renew only act while the lock is still the holder's (a token check).
   */
  lock(key: string, ttlMs: number): Promise<Lock | null>;
  /** Throws when the backing service is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
  readonly kind: 'memory' | 'redis';
  /**
   * Reads the store promises to report changes of, so that a caller may keep what it read
   * (Redis client-side caching: redis-tracking.ts). Absent where the store cannot report changes
   * (memory: nothing to save; Redis Cluster).
   */
  readonly tracked?: TrackedReads;
}

/**
 * A read is still the stored value while no change of its key was reported: valid when it was
 * made while `live`, `epoch` had not moved by its answer, and `changedSince(key, mark())` taken
 * before it is false; it stays valid until onChange names its key, or `live` or `epoch` changes.
 */
export interface TrackedReads {
  /** Reports are flowing: false while (re)connecting, and then nothing read may be kept. */
  readonly live: boolean;
  /** Moves whenever reports may have been lost (a reconnect, a flush): older reads are void. */
  readonly epoch: number;
  /** The position in the stream of reports, to take just before a read. */
  mark(): number;
  /** A report for `key` (or one that could have been) arrived after `mark`. */
  changedSince(key: string, mark: number): boolean;
  /** The value and its remaining lifetime in ms (-1: none, -2: absent), in one round trip. */
  read(key: string): Promise<{ value: string | null; ttlMs: number }>;
  /** Called with the keys reported changed; null when everything was (a flush). */
  onChange(listener: (keys: string[] | null) => void): void;
}

export interface Lock {
  renew(ttlMs: number): Promise<boolean>;
  release(): Promise<void>;
}

/** Thrown by the Redis store when Redis cannot be reached: callers fail closed (503). */
export class StoreUnavailableError extends Error {
  constructor(cause?: unknown) {
    super('session store unavailable', { cause });
    this.name = 'StoreUnavailableError';
  }
}
