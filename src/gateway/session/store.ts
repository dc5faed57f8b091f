/**
 * Gateway sessions in the KvStore, oauth2-proxy's ticket model (gateway-lessons §5.1, DESIGN §4):
 * the cookie carries `id.secret`; the store holds `gw:sess:{id}` = AES-256-GCM(deflated JSON) under
 * a key derived (HKDF) from the secret, with the id as associated data (sealed-json.ts). The secret never reaches the
 * store, so a Redis dump alone reveals no token.
 *
 * Expiry: the absolute deadline is sealed inside the value and checked (with the injected clock)
 * on every load. The key's own TTL is the idle deadline, capped by the absolute one: Redis itself
 * forgets idle sessions, and sliding the idle window is a bare EXPIRE, done at most once a minute
 * per session and replica. An EXPIRE never rewrites the value, so it cannot race a concurrent
 * refresh into writing back stale tokens (a read-modify-write touch could).
 *
 * Indexes for back-channel logout: `gw:psid:{provider sid}` and `gw:sub:{sub}` -> session ids;
 * a login prunes the ids of expired sessions from its user's index (pruneIndex).
 * The session, its refresh lock and its refresh marker share the `{id}` hash tag (one Cluster slot).
 *
 * Hot path (DESIGN §4: at most one store round trip, everything else cached). Unsealing:
 * deriving the key (HKDF), AES-GCM, inflate and JSON.parse (~40 µs, more than the rest of the
 * proxy hop) run only when this process has not unsealed that exact value before. The bounded `unsealed` cache keeps,
 * per session id, the data last unsealed (or written) here with the IV+tag of its box and the
 * secret that opened it: a GET returning a box with the same IV+tag (fresh and random at every
 * write) under the same presented secret (compared in constant time) is the value already
 * authenticated, so its data is reused. Anything else is unsealed as before.
 *
 * Zero round trips (Redis client-side caching, store/redis-tracking.ts): when the store tracks
 * reads, load() reads the value and its TTL on the tracked connection, and Redis then pushes a
 * report when that key changes (a write, an EXPIRE, a delete, an expiry) on any replica. Until
 * then the unsealed entry is `confirmed`: it is the stored value, so load() answers from it without
 * asking Redis. Confirmation ends at the first of: a report for the key, a reconnect, flush or
 * missed heartbeat (the epoch moves), the key's own TTL as read (idle expiry: Redis's report of an
 * expired key waits for its expiry cycle to find it), and CONFIRM_MAX_MS as a last backstop. These
 * deadlines run on a monotonic clock (a wall-clock step must not stretch them). loadVersioned
 * (refresh, which needs the exact stored value for compare-and-set) always reads. Without tracking
 * (memory store, Cluster, a Redis that refuses CLIENT TRACKING) every load reads.
 *
 * What "at once" means across replicas: a logout on replica A is seen by replica B as soon as
 * Redis's report reaches B (the same loopback or LAN hop as A's reply, sub-millisecond, unless B
 * is stalled), not strictly before A's DEL returns; a GET in flight on B had the same window.
 */
import { deriveKey } from '../../crypto/seal.js';
import { sealHeader, sealJson, unsealJson } from './sealed-json.js';
import { fromStored, toStored } from './stored-form.js';
import { timingSafeEqual } from 'node:crypto';
import { randomHandle } from '../../crypto/secrets.js';
import { epochSeconds, type Clock } from '../../clock.js';
import type { KvStore } from '../../store/store.js';
import type { SessionTicket } from './cookies.js';
import type { Session, SessionData } from './session.js';

export const SLIDE_INTERVAL_SECONDS = 60;
/**
 * Longest a tracked read is trusted without a new one (per session and process): what a change
 * could take to be seen if Redis's report of it were lost without either connection closing.
 */
export const CONFIRM_MAX_MS = 10_000;
/**
 * Bound on the sessions kept unsealed in this process, least recently used out first. An entry is
 * one session's data (its tokens: ~3 KB of heap with RS256 id and access tokens), so the cap is
 * ~3 MB whatever the number of sessions in the store; an evicted session costs one tracked read
 * and one unseal (~40 µs) when it comes back. Measured (bench/RESULTS.md): at 2,000 entries,
 * traffic spread over 50,000 sessions left the heap fragmented enough to keep +34 to +48 MiB of
 * RSS; at 1,000, under +20 MiB (issue 3's memory goal).
 */
export const UNSEALED_CACHE_ENTRIES = 1_000;
const SEAL_INFO = 'menshen gateway session v2';
/** Ids of a user's session index checked (and dropped when dead) per login: see pruneIndex. */
export const PRUNE_SAMPLE = 64;

const SESSION_KEY_PREFIX = 'gw:sess:{';
export const sessionKey = (id: string) => `${SESSION_KEY_PREFIX}${id}}`;
/** The session id of a session key; null for any other key. */
function sessionIdOf(key: string): string | null {
  return key.startsWith(SESSION_KEY_PREFIX) && key.endsWith('}') ? key.slice(SESSION_KEY_PREFIX.length, -1) : null;
}
export const refreshLockKey = (id: string) => `gw:lock:{${id}}`;
const psidIndexKey = (psid: string) => `gw:psid:{${psid}}`;
const subIndexKey = (sub: string) => `gw:sub:{${sub}}`;

export interface SessionTimes {
  /** Absolute lifetime, seconds. */
  ttl: number;
  /** Idle lifetime, seconds. */
  idleTtl: number;
}

/**
 * Constant-time comparison of a presented secret with a remembered one. Unequal lengths answer at
 * once: every secret is randomHandle(32), 43 characters, so the length tells nobody anything.
 * Both sides become Buffers only here, briefly: a small Buffer kept in a cache entry would pin
 * the whole 8 KB pool slab it was cut from (2,000 entries: up to 16 MB, and fragmented RSS).
 */
function sameSecret(known: string, presented: string): boolean {
  if (known.length !== presented.length) return false;
  const a = Buffer.from(known);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A session as this process last unsealed or wrote it. */
interface Unsealed {
  /** sealHeader of the stored box this data came from. */
  header: string;
  /** The per-session secret that opened it. */
  secret: string;
  data: SessionData;
  /** When this process last wrote the value or slid its idle window (clock ms); 0: never. */
  slidAt: number;
  /** Until when (monotonic ms, performance.now()) this is known to be the stored value (a tracked read); 0: not known. */
  confirmedUntil: number;
  /** The tracked-reads epoch the confirmation belongs to. */
  confirmedEpoch: number;
}

export class SessionStore {
  /** By session id; a Map iterates in insertion order, so re-inserting on use keeps the LRU first. */
  private readonly unsealed = new Map<string, Unsealed>();

  constructor(
    private readonly kv: KvStore,
    private readonly clock: Clock,
    private readonly times: SessionTimes,
    private readonly maxUnsealed = UNSEALED_CACHE_ENTRIES,
    private readonly confirmMaxMs = CONFIRM_MAX_MS,
  ) {
    kv.tracked?.onChange((keys) => {
      if (keys === null) return; // a flush moves the epoch: every confirmation is void already
      for (const key of keys) {
        const id = sessionIdOf(key);
        const entry = id === null ? undefined : this.unsealed.get(id);
        if (entry) entry.confirmedUntil = 0;
      }
    });
  }

  nowSeconds(): number {
    return epochSeconds(this.clock);
  }

  private keyFor(secret: string): Buffer {
    return deriveKey(secret, SEAL_INFO);
  }

  /** Seconds the key should live from now: the idle window, never past the absolute deadline. */
  private keyTtl(data: SessionData): number {
    return Math.max(1, Math.min(this.times.idleTtl, data.exp - epochSeconds(this.clock)));
  }

  /** A brand-new session (a new id at every login: no fixation); returns its cookie ticket. */
  async create(fields: Omit<SessionData, 'v' | 'exp' | 'w'>): Promise<Session> {
    const now = epochSeconds(this.clock);
    const ticket: SessionTicket = { id: randomHandle(16), secret: randomHandle(32) };
    const data: SessionData = { v: 1, ...fields, exp: now + this.times.ttl, w: now };
    const session: Session = { ...ticket, data };
    await this.write(session);
    const sub = String(data.claims.sub);
    await this.pruneIndex(subIndexKey(sub));
    await this.kv.sadd(subIndexKey(sub), ticket.id, this.times.ttl);
    if (data.psid) await this.kv.sadd(psidIndexKey(data.psid), ticket.id, this.times.ttl);
    return session;
  }

  /**
   * Drops from an index the ids whose sessions are gone without a destroy() (idle or absolute
   * expiry: the store forgot them). Each sadd renews the index's TTL, so without this a user who
   * keeps signing in would grow it without bound. Runs at login, not on the hot path, on a random
   * sample of PRUNE_SAMPLE ids: a login costs a bounded number of store calls however many
   * sessions the user has (an account that signs in from a script all day), and each login still
   * removes far more dead ids than the one it adds, so the index stays near the live sessions.
   */
  private async pruneIndex(indexKey: string): Promise<void> {
    const ids = await this.kv.srandmember(indexKey, PRUNE_SAMPLE);
    if (ids.length === 0) return;
    const ttls = await Promise.all(ids.map((id) => this.kv.ttl(sessionKey(id))));
    await Promise.all(ids.filter((_, i) => ttls[i] === -2).map((id) => this.kv.srem(indexKey, id)));
  }

  private async write(session: Session): Promise<void> {
    const box = sealJson(toStored(session.data), this.keyFor(session.secret), session.id);
    await this.kv.set(sessionKey(session.id), box, this.keyTtl(session.data));
    this.remember(session, box, { ...session.data }, this.clock.now());
  }

  /** Moves an entry to the most recently used end of the LRU (a Map iterates in insertion order). */
  private markUsed(id: string, entry: Unsealed): void {
    this.unsealed.delete(id);
    this.unsealed.set(id, entry);
  }

  private remember(ticket: SessionTicket, box: string, data: SessionData, slidAt: number): void {
    this.unsealed.delete(ticket.id);
    this.unsealed.set(ticket.id, { header: sealHeader(box), secret: ticket.secret, data, slidAt, confirmedUntil: 0, confirmedEpoch: 0 });
    while (this.unsealed.size > this.maxUnsealed) this.unsealed.delete(this.unsealed.keys().next().value as string);
  }

  /**
   * The data sealed in `box`, or null when the ticket's secret does not open it. A copy: callers
   * (refresh) change their session's members, which must not reach the cache before a write does.
   */
  private open(ticket: SessionTicket, box: string): SessionData | null {
    const hit = this.unsealed.get(ticket.id);
    if (hit && box.startsWith(hit.header) && sameSecret(hit.secret, ticket.secret)) {
      this.markUsed(ticket.id, hit);
      return { ...hit.data };
    }
    // null: a forged or stale secret, not this session's owner
    const data = fromStored(unsealJson(box, this.keyFor(ticket.secret), ticket.id));
    if (!data) return null;
    this.remember(ticket, box, data, hit?.slidAt ?? 0);
    return { ...data };
  }

  /**
   * Rewrites a session after its tokens changed (refresh), only while the store still holds
   * `loadedBox`, the value it was loaded from (compare-and-set). false: the session was ended
   * (logout, back-channel logout) or rewritten meanwhile, and nothing was written: a refresh that
   * finishes after a logout must not bring the session back.
   */
  async saveIfUnchanged(session: Session, loadedBox: string): Promise<boolean> {
    session.data.w = epochSeconds(this.clock);
    const box = sealJson(toStored(session.data), this.keyFor(session.secret), session.id);
    const saved = await this.kv.compareAndSet(sessionKey(session.id), loadedBox, box, this.keyTtl(session.data));
    if (saved) this.remember(session, box, { ...session.data }, this.clock.now());
    else this.unsealed.delete(session.id);
    return saved;
  }

  /** The live session of a ticket, or null (unknown, tampered, idle- or absolutely expired). */
  async load(ticket: SessionTicket): Promise<Session | null> {
    const tracked = this.kv.tracked;
    if (!tracked?.live) return (await this.loadVersioned(ticket))?.session ?? null;
    const hit = this.unsealed.get(ticket.id);
    if (
      hit &&
      hit.confirmedEpoch === tracked.epoch &&
      performance.now() < hit.confirmedUntil &&
      hit.data.exp > epochSeconds(this.clock) &&
      sameSecret(hit.secret, ticket.secret)
    ) {
      this.markUsed(ticket.id, hit);
      return { ...ticket, data: { ...hit.data } };
    }
    const key = sessionKey(ticket.id);
    const epoch = tracked.epoch;
    const mark = tracked.mark();
    const started = performance.now();
    let read: { value: string | null; ttlMs: number };
    try {
      read = await tracked.read(key);
    } catch {
      // The tracked connection failed (a reset, a timeout): the command connection decides, and
      // still fails closed (503) when Redis itself is down.
      return (await this.loadVersioned(ticket))?.session ?? null;
    }
    const { value: box, ttlMs } = read;
    const loaded = await this.fromBox(ticket, box);
    const entry = this.unsealed.get(ticket.id);
    // Confirmed only if nothing could have changed the key between the read and now.
    if (loaded && entry && box !== null && box.startsWith(entry.header) && ttlMs > 0 && tracked.live && tracked.epoch === epoch && !tracked.changedSince(key, mark)) {
      entry.confirmedEpoch = epoch;
      entry.confirmedUntil = started + Math.min(ttlMs, this.confirmMaxMs);
    }
    return loaded?.session ?? null;
  }

  /** load(), with the stored value it came from: what saveIfUnchanged compares against. */
  async loadVersioned(ticket: SessionTicket): Promise<{ session: Session; box: string } | null> {
    return this.fromBox(ticket, await this.kv.get(sessionKey(ticket.id)));
  }

  /** The session a stored value holds for this ticket, or null (absent, not this ticket's, expired: then destroyed). */
  private async fromBox(ticket: SessionTicket, box: string | null): Promise<{ session: Session; box: string } | null> {
    if (box === null) {
      this.unsealed.delete(ticket.id);
      return null;
    }
    const data = this.open(ticket, box);
    if (!data) return null;
    if (data.exp <= epochSeconds(this.clock)) {
      await this.destroy({ ...ticket, data });
      return null;
    }
    return { session: { ...ticket, data }, box };
  }

  /** Slides the idle window, at most once a minute per session (a bare EXPIRE). */
  async touch(session: Session): Promise<void> {
    const now = this.clock.now();
    const known = this.unsealed.get(session.id);
    const last = Math.max(known?.slidAt ?? 0, session.data.w * 1000);
    if (now - last < SLIDE_INTERVAL_SECONDS * 1000) return;
    // Remembered with the unsealed data: a session evicted from that cache costs one EXPIRE more.
    if (known) known.slidAt = now;
    await this.kv.expire(sessionKey(session.id), this.keyTtl(session.data));
  }

  /** Ends one session and removes it from its indexes. */
  async destroy(session: Session): Promise<void> {
    this.unsealed.delete(session.id);
    await this.kv.del(sessionKey(session.id), refreshLockKey(session.id));
    await this.kv.srem(subIndexKey(String(session.data.claims.sub)), session.id);
    if (session.data.psid) await this.kv.srem(psidIndexKey(session.data.psid), session.id);
  }

  /** Ends every session of a provider session id or of a subject (back-channel logout); returns how many ids were listed. */
  async destroyAllOf(by: { psid?: string; sub?: string }): Promise<number> {
    const indexKey = by.psid !== undefined ? psidIndexKey(by.psid) : by.sub !== undefined ? subIndexKey(by.sub) : null;
    if (!indexKey) return 0;
    const ids = await this.kv.smembers(indexKey);
    for (const id of ids) this.unsealed.delete(id);
    if (ids.length) await this.kv.del(...ids.map(sessionKey));
    await this.kv.del(indexKey);
    return ids.length;
  }
}
