/**
 * A KvStore that counts its failures in menshen_store_errors_total{op}: every part of the app uses
 * the store through this wrapper (app.ts), so a Redis outage shows on /metrics however the caller
 * handles the error. Successful calls cost one extra promise reaction, nothing else.
 */
import type { KvStore, Lock, TrackedReads } from '../store/store.js';
import type { Metrics } from './metrics.js';

export function meteredStore(inner: KvStore, metrics: Metrics): KvStore {
  // The caller gets the store's own promise (no async wrapper: no extra ticks on the token path);
  // the count hangs off it as a side branch.
  const counted = <T>(op: string, fn: () => Promise<T>): Promise<T> => {
    let pending: Promise<T>;
    try {
      pending = fn();
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.catch(() => metrics.storeErrors.inc({ op }));
    return pending;
  };
  const meteredLock = (lock: Lock): Lock => ({
    renew: (ms) => counted('lock', () => lock.renew(ms)),
    release: () => counted('lock', () => lock.release()),
  });
  return {
    kind: inner.kind,
    get: (key) => counted('get', () => inner.get(key)),
    set: (key, value, ttl) => counted('set', () => inner.set(key, value, ttl)),
    setIfAbsent: (key, value, ttl) => counted('setIfAbsent', () => inner.setIfAbsent(key, value, ttl)),
    take: (key) => counted('take', () => inner.take(key)),
    del: (...keys) => counted('del', () => inner.del(...keys)),
    incr: (key, ttl) => counted('incr', () => inner.incr(key, ttl)),
    decr: (key) => counted('decr', () => inner.decr(key)),
    compareAndSet: (key, expected, next, ttl) => counted('compareAndSet', () => inner.compareAndSet(key, expected, next, ttl)),
    ttl: (key) => counted('ttl', () => inner.ttl(key)),
    expire: (key, ttl) => counted('expire', () => inner.expire(key, ttl)),
    sadd: (key, member, ttl) => counted('sadd', () => inner.sadd(key, member, ttl)),
    srem: (key, member) => counted('srem', () => inner.srem(key, member)),
    smembers: (key) => counted('smembers', () => inner.smembers(key)),
    srandmember: (key, count) => counted('srandmember', () => inner.srandmember(key, count)),
    lock: async (key, ttlMs) => {
      const lock = await counted('lock', () => inner.lock(key, ttlMs));
      return lock && meteredLock(lock);
    },
    ping: () => counted('ping', () => inner.ping()),
    close: () => inner.close(),
    ...(inner.tracked ? { tracked: meteredTrackedReads(inner.tracked, counted) } : {}),
  };
}

/** The same reads, with failed ones counted (op `get`: what they replace); the rest passes through. */
function meteredTrackedReads(inner: TrackedReads, counted: <T>(op: string, fn: () => Promise<T>) => Promise<T>): TrackedReads {
  return {
    get live() {
      return inner.live;
    },
    get epoch() {
      return inner.epoch;
    },
    mark: () => inner.mark(),
    changedSince: (key, mark) => inner.changedSince(key, mark),
    read: (key) => counted('get', () => inner.read(key)),
    onChange: (listener) => inner.onChange(listener),
  };
}
