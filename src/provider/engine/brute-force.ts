/**
 * Failed-login counters (issue 2; review fixes of issue 10): per account+IP, per IP and per account
 * across IPs, in fixed windows of provider.bruteForce.window seconds. Past a threshold further
 * attempts are refused without checking the password (answered `Abnormal user status`) until the
 * window passes.
 *
 * An attempt is reserved BEFORE the password check (an atomic INCR of each counter) and refused
 * when a counter passes its limit, so concurrent guesses cannot all slip past a read-then-count
 * check: with perUserIp 3, forty parallel wrong passwords cost three password checks. A refused
 * attempt gives its reservation back (it checked nothing); a success gives back its per-IP and
 * per-account reservations and clears the account+IP counter; a failure keeps all three.
 *
 * "Account" is the caller's key: the resolved user id when the login name names a user, so every
 * spelling of a phone or the user's email share one counter, else the normalized login name (an
 * unknown name counts and locks exactly like a known one: no enumeration through the counters).
 *
 * The window is part of the key (`bf:u:{hash}:{n}` with n = now / window), so expiry follows the
 * injected clock; the store TTL only cleans up.
 */
import type { KvStore } from '../../store/store.js';
import type { Clock } from '../../clock.js';
import { hashHandle } from '../../crypto/secrets.js';
import { ProviderError } from './errors.js';

export interface BruteForceLimits {
  perUserIp: number;
  perIp: number;
  /** per account, across IPs */
  perUser: number;
  /** seconds */
  window: number;
}

/** A reserved attempt: the caller reports a success; a failure needs no call (it stays counted). */
export interface LoginAttempt {
  succeeded(): Promise<void>;
}

const lockedOut = () => new ProviderError('abnormal_user_status', 'too many failed logins; try again later', { cause: 'brute-force lockout' });

export class BruteForceGuard {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
    private readonly limits: BruteForceLimits,
  ) {}

  private keys(account: string, ip: string): { userIp: string; ip: string; user: string } {
    const n = Math.floor(this.clock.now() / 1000 / this.limits.window);
    // Hashed: a key must not carry a login name or an IP in clear (store dumps, logs).
    return {
      userIp: `bf:u:${hashHandle(`${account}\n${ip}`)}:${n}`,
      ip: `bf:i:${hashHandle(ip)}:${n}`,
      user: `bf:a:${hashHandle(account)}:${n}`,
    };
  }

  /** Reserves one password check for `account` from `ip`; throws abnormal_user_status past a limit. */
  async reserve(account: string, ip: string): Promise<LoginAttempt> {
    const k = this.keys(account, ip);
    const w = this.limits.window;
    const [userIp, perIp, user] = await Promise.all([this.store.incr(k.userIp, w), this.store.incr(k.ip, w), this.store.incr(k.user, w)]);
    if (userIp > this.limits.perUserIp || perIp > this.limits.perIp || user > this.limits.perUser) {
      await Promise.all([this.store.decr(k.userIp), this.store.decr(k.ip), this.store.decr(k.user)]);
      throw lockedOut();
    }
    return {
      succeeded: async () => {
        await Promise.all([this.store.del(k.userIp), this.store.decr(k.ip), this.store.decr(k.user)]);
      },
    };
  }
}
