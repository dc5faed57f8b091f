/**
 * Transparent refresh (gateway-lessons #1, §5.2; STYLE habit 8). When the access token expires
 * within refreshBefore, exactly one request refreshes, under a per-session store lock whose lease
 * is renewed for as long as the issuer call runs, and it re-reads the session once it holds the
 * lock (another replica may have just finished). Everyone else waits and reuses the result:
 * requests in this process through a single-flight map, requests on other replicas by polling the
 * session until it is fresh (or the lock frees up, if its holder died).
 *
 * Outcomes: `invalid_grant` ends the session (the caller then sends the browser to log in);
 * any other failure (network, 5xx) keeps the old session until its access token actually expires,
 * then answers 503 until the issuer is back. The new tokens are written by compare-and-set against
 * the value read under the lock: a logout that lands while the issuer answers wins (outcome
 * `ended`, and the refresh token just obtained is revoked). Recorded in metrics.refreshes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { epochSeconds, type Clock } from '../../clock.js';
import type { KvStore, Lock } from '../../store/store.js';
import type { Metrics } from '../../ops/metrics.js';
import { IssuerUnavailable } from '../errors.js';
import { RefreshRejected, type RelyingParty } from '../rp.js';
import { identityClaims, type Session } from './session.js';
import { refreshLockKey, type SessionStore } from './store.js';

/** Lease of the refresh lock; renewed every third of it while the refresh runs. */
const LEASE_MS = 10_000;
/** How often a waiter on another replica re-reads the session. */
const POLL_MS = 50;
/** How long a waiter waits for another replica's refresh before falling back to the old tokens. */
const WAIT_MS = 15_000;

export interface RefresherDeps {
  kv: KvStore;
  sessions: SessionStore;
  rp: RelyingParty;
  clock: Clock;
  metrics: Metrics;
  refreshBefore: number;
  log: { warn(obj: object, msg: string): void };
}

export class Refresher {
  private readonly inflight = new Map<string, Promise<Session | null>>();

  constructor(private readonly deps: RefresherDeps) {}

  private now(): number {
    return epochSeconds(this.deps.clock);
  }

  needsRefresh(session: Session): boolean {
    const { atExp } = session.data;
    return atExp !== undefined && atExp - this.now() <= this.deps.refreshBefore;
  }

  /** The session with a usable access token, or null when the session has ended. */
  async ensureFresh(session: Session): Promise<Session | null> {
    if (!this.needsRefresh(session)) return session;
    if (!session.data.rt) {
      // Nothing to renew with: the session lasts as long as its access token.
      if (session.data.atExp! > this.now()) return session;
      await this.deps.sessions.destroy(session);
      return null;
    }
    const running = this.inflight.get(session.id);
    if (running) {
      this.deps.metrics.refreshes.inc({ outcome: 'joined' });
      return running;
    }
    const p = this.refreshShared(session).finally(() => this.inflight.delete(session.id));
    this.inflight.set(session.id, p);
    return p;
  }

  private async refreshShared(session: Session): Promise<Session | null> {
    const giveUpAt = Date.now() + WAIT_MS;
    let current: Session | null = session;
    for (;;) {
      const lock = await this.deps.kv.lock(refreshLockKey(session.id), LEASE_MS);
      if (lock) return this.refreshUnderLock(session, lock);
      // Another replica is refreshing this session: wait for its result.
      await sleep(POLL_MS);
      current = await this.deps.sessions.load(session);
      if (!current) return null;
      if (!this.needsRefresh(current)) {
        this.deps.metrics.refreshes.inc({ outcome: 'joined' });
        return current;
      }
      if (Date.now() > giveUpAt) return this.keepUntilExpired(current);
    }
  }

  private async refreshUnderLock(ticket: Session, lock: Lock): Promise<Session | null> {
    const renewal = setInterval(() => lock.renew(LEASE_MS).catch(() => false), LEASE_MS / 3);
    renewal.unref();
    try {
      // Re-read under the lock: the previous holder may have refreshed (and rotated the token).
      const loaded = await this.deps.sessions.loadVersioned(ticket);
      if (!loaded) return null;
      const current = loaded.session;
      if (!this.needsRefresh(current)) {
        this.deps.metrics.refreshes.inc({ outcome: 'joined' });
        return current;
      }
      let tokens;
      try {
        tokens = await this.deps.rp.refresh(current.data.rt!);
      } catch (err) {
        if (err instanceof RefreshRejected) {
          this.deps.metrics.refreshes.inc({ outcome: 'invalid_grant' });
          await this.deps.sessions.destroy(current);
          return null;
        }
        this.deps.metrics.refreshes.inc({ outcome: 'error' });
        this.deps.log.warn({ err: (err as Error).message }, 'token refresh failed; keeping the session until its access token expires');
        return this.keepUntilExpired(current);
      }
      if (tokens.claims && tokens.claims.sub !== current.data.claims.sub) {
        // An issuer answering a refresh with someone else's id token: end it rather than switch users.
        this.deps.metrics.refreshes.inc({ outcome: 'invalid_grant' });
        await this.deps.sessions.destroy(current);
        return null;
      }
      const d = current.data;
      d.at = tokens.accessToken;
      if (tokens.expiresIn !== undefined) d.atExp = this.now() + tokens.expiresIn;
      else delete d.atExp;
      if (tokens.refreshToken) d.rt = tokens.refreshToken;
      if (tokens.idToken) d.idt = tokens.idToken;
      if (tokens.claims) d.claims = identityClaims(tokens.claims);
      if (!(await this.deps.sessions.saveIfUnchanged(current, loaded.box))) {
        // The session ended while the issuer answered (a logout deletes it without the lock):
        // it stays ended, and the refresh token just obtained is revoked rather than orphaned.
        this.deps.metrics.refreshes.inc({ outcome: 'ended' });
        if (tokens.refreshToken) {
          await this.deps.rp.revoke(tokens.refreshToken, 'refresh_token').catch((err: unknown) => {
            this.deps.log.warn({ err: (err as Error).message }, 'revoking the refresh token of an ended session failed');
          });
        }
        return null;
      }
      this.deps.metrics.refreshes.inc({ outcome: 'success' });
      return current;
    } finally {
      clearInterval(renewal);
      await lock.release().catch(() => {});
    }
  }

  private keepUntilExpired(session: Session): Session {
    if ((session.data.atExp ?? 0) > this.now()) return session;
    throw new IssuerUnavailable('identity provider unavailable: the session cannot be refreshed right now');
  }
}
