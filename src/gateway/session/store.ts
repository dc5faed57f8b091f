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
 * Indexes for back-channel logout: `gw:psid:{provider sid}` and `gw:sub:{sub}` -> session ids.
 * The session, its refresh lock and its refresh marker share the `{id}` hash tag (one Cluster slot).
 */
import { deriveKey } from '../../crypto/seal.js';
import { sealJson, unsealJson } from './sealed-json.js';
import { randomHandle } from '../../crypto/secrets.js';
import { epochSeconds, type Clock } from '../../clock.js';
import type { KvStore } from '../../store/store.js';
import type { SessionTicket } from './cookies.js';
import type { Session, SessionData } from './session.js';

export const SLIDE_INTERVAL_SECONDS = 60;
/** Bound on the in-process "last slid" map; beyond it the map starts over (costs an extra EXPIRE). */
const MAX_TRACKED_SLIDES = 50_000;
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

export class SessionStore {
  private readonly slidAt = new Map<string, number>();

  constructor(
    private readonly kv: KvStore,
    private readonly clock: Clock,
    private readonly times: SessionTimes,
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
    await this.kv.sadd(subIndexKey(sub), ticket.id, this.times.ttl);
    if (data.psid) await this.kv.sadd(psidIndexKey(data.psid), ticket.id, this.times.ttl);
    return session;
  }

  private async write(session: Session): Promise<void> {
    const box = sealJson(session.data, this.keyFor(session.secret), session.id);
    await this.kv.set(sessionKey(session.id), box, this.keyTtl(session.data));
    this.slidAt.set(session.id, this.clock.now());
  }

  /** Rewrites a session after its tokens changed (refresh). */
  async save(session: Session): Promise<void> {
    session.data.w = epochSeconds(this.clock);
    await this.write(session);
  }

  /** The live session of a ticket, or null (unknown, tampered, idle- or absolutely expired). */
  async load(ticket: SessionTicket): Promise<Session | null> {
    const box = await this.kv.get(sessionKey(ticket.id));
    if (box === null) return null;
    // null: a forged or stale secret, not this session's owner
    const data = unsealJson(box, this.keyFor(ticket.secret), ticket.id) as SessionData | null;
    if (!data || data.v !== 1 || typeof data.exp !== 'number') return null;
    if (data.exp <= epochSeconds(this.clock)) {
      await this.destroy({ ...ticket, data });
      return null;
    }
    return { ...ticket, data };
  }

  /** Slides the idle window, at most once a minute per session (a bare EXPIRE). */
  async touch(session: Session): Promise<void> {
    const now = this.clock.now();
    const last = Math.max(this.slidAt.get(session.id) ?? 0, session.data.w * 1000);
    if (now - last < SLIDE_INTERVAL_SECONDS * 1000) return;
    if (this.slidAt.size >= MAX_TRACKED_SLIDES) this.slidAt.clear();
    this.slidAt.set(session.id, now);
    await this.kv.expire(sessionKey(session.id), this.keyTtl(session.data));
  }

  /** Ends one session and removes it from its indexes. */
  async destroy(session: Session): Promise<void> {
    this.slidAt.delete(session.id);
    await this.kv.del(sessionKey(session.id), refreshLockKey(session.id));
    await this.kv.srem(subIndexKey(String(session.data.claims.sub)), session.id);
    if (session.data.psid) await this.kv.srem(psidIndexKey(session.data.psid), session.id);
  }

  /** Ends every session of a provider session id or of a subject (back-channel logout); returns how many ids were listed. */
  async destroyAllOf(by: { psid?: string; sub?: string }): Promise<number> {
    const indexKey = by.psid !== undefined ? psidIndexKey(by.psid) : by.sub !== undefined ? subIndexKey(by.sub) : null;
    if (!indexKey) return 0;
    const ids = await this.kv.smembers(indexKey);
    for (const id of ids) this.slidAt.delete(id);
    if (ids.length) await this.kv.del(...ids.map(sessionKey));
    await this.kv.del(indexKey);
    return ids.length;
  }
}
