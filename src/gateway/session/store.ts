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
 * Hot path (DESIGN §4: one store round trip, everything else cached): every load still GETs the
 * value, so a logout, a refresh or an expiry on any replica is seen at once; but deriving the key
 * (HKDF), AES-GCM, inflate and JSON.parse (~40 µs, more than the rest of the proxy hop) run only
 * when this process has not unsealed that exact value before. The bounded `unsealed` cache keeps,
 * per session id, the data last unsealed (or written) here with the IV+tag of its box and the
 * secret that opened it: a GET returning a box with the same IV+tag (fresh and random at every
 * write) under the same presented secret (compared in constant time) is the value already
 * authenticated, so its data is reused. Anything else is unsealed as before.
 */
import { deriveKey } from '../../crypto/seal.js';
import { sealHeader, sealJson, unsealJson } from './sealed-json.js';
import { timingSafeEqual } from 'node:crypto';
import { randomHandle } from '../../crypto/secrets.js';
import { epochSeconds, type Clock } from '../../clock.js';
import type { KvStore } from '../../store/store.js';
import type { SessionTicket } from './cookies.js';
import type { Session, SessionData } from './session.js';

export const SLIDE_INTERVAL_SECONDS = 60;
/**
 * Bound on the sessions kept unsealed in this process, least recently used out first. An entry is
 * one session's data (its tokens: ~3 KB of heap with RS256 id and access tokens), so the cap is
 * ~6 MB whatever the number of sessions in the store; an evicted session costs one unseal more.
 */
export const UNSEALED_CACHE_ENTRIES = 2_000;
const SEAL_INFO = 'menshen gateway session v2';

export const sessionKey = (id: string) => `gw:sess:{${id}}`;
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
}

export class SessionStore {
  /** By session id; a Map iterates in insertion order, so re-inserting on use keeps the LRU first. */
  private readonly unsealed = new Map<string, Unsealed>();

  constructor(
    private readonly kv: KvStore,
    private readonly clock: Clock,
    private readonly times: SessionTimes,
    private readonly maxUnsealed = UNSEALED_CACHE_ENTRIES,
  ) {}

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
   * keeps signing in would grow it without bound. Runs at login, not on the hot path.
   */
  private async pruneIndex(indexKey: string): Promise<void> {
    const ids = await this.kv.smembers(indexKey);
    if (ids.length === 0) return;
    const ttls = await Promise.all(ids.map((id) => this.kv.ttl(sessionKey(id))));
    await Promise.all(ids.filter((_, i) => ttls[i] === -2).map((id) => this.kv.srem(indexKey, id)));
  }

  private async write(session: Session): Promise<void> {
    const box = sealJson(session.data, this.keyFor(session.secret), session.id);
    await this.kv.set(sessionKey(session.id), box, this.keyTtl(session.data));
    this.remember(session, box, { ...session.data }, this.clock.now());
  }

  private remember(ticket: SessionTicket, box: string, data: SessionData, slidAt: number): void {
    this.unsealed.delete(ticket.id);
    this.unsealed.set(ticket.id, { header: sealHeader(box), secret: ticket.secret, data, slidAt });
    while (this.unsealed.size > this.maxUnsealed) this.unsealed.delete(this.unsealed.keys().next().value as string);
  }

  /**
   * The data sealed in `box`, or null when the ticket's secret does not open it. A copy: callers
   * (refresh) change their session's members, which must not reach the cache before a write does.
   */
  private open(ticket: SessionTicket, box: string): SessionData | null {
    const hit = this.unsealed.get(ticket.id);
    if (hit && box.startsWith(hit.header) && sameSecret(hit.secret, ticket.secret)) {
      this.unsealed.delete(ticket.id);
      this.unsealed.set(ticket.id, hit);
      return { ...hit.data };
    }
    // null: a forged or stale secret, not this session's owner
    const data = unsealJson(box, this.keyFor(ticket.secret), ticket.id) as SessionData | null;
    if (!data || data.v !== 1 || typeof data.exp !== 'number') return null;
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
    const box = sealJson(session.data, this.keyFor(session.secret), session.id);
    const saved = await this.kv.compareAndSet(sessionKey(session.id), loadedBox, box, this.keyTtl(session.data));
    if (saved) this.remember(session, box, { ...session.data }, this.clock.now());
    else this.unsealed.delete(session.id);
    return saved;
  }

  /** The live session of a ticket, or null (unknown, tampered, idle- or absolutely expired). */
  async load(ticket: SessionTicket): Promise<Session | null> {
    return (await this.loadVersioned(ticket))?.session ?? null;
  }

  /** load(), with the stored value it came from: what saveIfUnchanged compares against. */
  async loadVersioned(ticket: SessionTicket): Promise<{ session: Session; box: string } | null> {
    const box = await this.kv.get(sessionKey(ticket.id));
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
