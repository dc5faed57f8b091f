/**
 * Provider SSO login sessions: what lets a second client's authorize succeed without a prompt.
 * The browser holds `<sid>.<secret>` in a cookie; the store keeps `sso:{sid}` with only a hash of the
 * secret, so a store dump cannot be replayed as a cookie. `sid` is the OIDC `sid` claim
 * (Front/Back-Channel Logout), and `ssoc:{sid}` lists the clients signed in under the session.
 */
import type { KvStore } from '../../store/store.js';
import { epochSeconds, type Clock } from '../../clock.js';
import { hashHandle, randomHandle, safeEqual } from '../../crypto/secrets.js';

export interface SsoSession {
  readonly sid: string;
  readonly userId: string;
  /** epoch seconds of the login (auth_time) */
  readonly authTime: number;
  /** epoch seconds */
  readonly exp: number;
  /** authentication methods (RFC 8176): pwd, sms, mfa */
  readonly amr: readonly string[];
}

interface Stored extends SsoSession {
  readonly h: string;
}

const SID = /^[A-Za-z0-9_-]{16,64}$/;

/** A client signed in under a session; `issuer` absent only for entries written before it was recorded. */
export interface SignedInClient {
  readonly clientId: string;
  readonly issuer?: string;
}

function parseMember(member: string): SignedInClient {
  if (member.startsWith('[')) {
    const [clientId, issuer] = JSON.parse(member) as [string, string];
    return { clientId, issuer };
  }
  return { clientId: member };
}

export class SsoSessions {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
    private readonly ttlSeconds: number,
  ) {}

  /** Starts a session; returns it and the cookie value the browser keeps. */
  async create(userId: string, amr: readonly string[]): Promise<{ session: SsoSession; cookie: string }> {
    const now = epochSeconds(this.clock);
    const sid = randomHandle(16);
    const secret = randomHandle();
    const session: SsoSession = { sid, userId, authTime: now, exp: now + this.ttlSeconds, amr: [...amr] };
    const stored: Stored = { ...session, h: hashHandle(secret) };
    await this.store.set(`sso:${sid}`, JSON.stringify(stored), this.ttlSeconds);
    return { session, cookie: `${sid}.${secret}` };
  }

  /**
   * A new login of the session's own user: the same `sid` (so logout still reaches every token
   * issued under it), a fresh secret (the old cookie stops working: no fixation), auth_time and
   * amr of this login, a new lifetime. Falls back to a new session when the old one changed or
   * ended meanwhile (a concurrent logout must not be undone).
   */
  async renew(previous: SsoSession, amr: readonly string[]): Promise<{ session: SsoSession; cookie: string }> {
    const raw = await this.store.get(`sso:${previous.sid}`);
    const stored = raw ? (JSON.parse(raw) as Stored) : null;
    if (raw && stored && stored.userId === previous.userId) {
      const now = epochSeconds(this.clock);
      const secret = randomHandle();
      const session: SsoSession = { sid: previous.sid, userId: previous.userId, authTime: now, exp: now + this.ttlSeconds, amr: [...amr] };
      const next: Stored = { ...session, h: hashHandle(secret) };
      if (await this.store.compareAndSet(`sso:${previous.sid}`, raw, JSON.stringify(next), this.ttlSeconds))
        return { session, cookie: `${previous.sid}.${secret}` };
    }
    return this.create(previous.userId, amr);
  }

  /** The live session a cookie value names, or null (malformed, unknown, expired, wrong secret). */
  async resolve(cookie: string | undefined): Promise<SsoSession | null> {
    if (!cookie) return null;
    const dot = cookie.indexOf('.');
    const sid = cookie.slice(0, dot);
    if (dot < 0 || !SID.test(sid)) return null;
    const raw = await this.store.get(`sso:${sid}`);
    if (!raw) return null;
    const stored = JSON.parse(raw) as Stored;
    if (stored.exp <= epochSeconds(this.clock)) return null;
    if (!safeEqual(hashHandle(cookie.slice(dot + 1)), stored.h)) return null;
    const { h: _h, ...session } = stored;
    return session;
  }

  async get(sid: string): Promise<SsoSession | null> {
    if (!SID.test(sid)) return null;
    const raw = await this.store.get(`sso:${sid}`);
    if (!raw) return null;
    const { h: _h, ...session } = JSON.parse(raw) as Stored;
    return session.exp > epochSeconds(this.clock) ? session : null;
  }

  /**
   * Records that a client received a code or tokens under this session, with the issuer (family)
   * they carry: back-channel logout signs each client's logout_token as that issuer (Back-Channel
   * Logout 1.0 §2.4: iss as in the client's ID tokens), whichever family the logout came through.
   */
  async addClient(sid: string, clientId: string, issuer: string): Promise<void> {
    await this.store.sadd(`ssoc:${sid}`, JSON.stringify([clientId, issuer]), this.ttlSeconds);
  }

  /** The (client, issuer) pairs signed in under a session (an issuer per family the client used). */
  async clients(sid: string): Promise<SignedInClient[]> {
    return (await this.store.smembers(`ssoc:${sid}`)).map(parseMember);
  }

  /** Ends the session; returns the clients that were signed in under it. */
  async end(sid: string): Promise<SignedInClient[]> {
    const clients = await this.clients(sid);
    await this.store.del(`sso:${sid}`, `ssoc:${sid}`);
    return clients;
  }
}
