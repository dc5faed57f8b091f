/**
 * Failed-login counters (issue 2): per username+IP and per IP, in fixed windows of
 * provider.bruteForce.window seconds. Past a threshold further attempts are refused without
 * checking the password (answered `Abnormal user status`) until the window passes.
 *
 * The window is part of the key (`bf:u:{hash}:{n}` with n = now / window), so expiry follows the
 * injected clock; the store TTL only cleans up. A success clears the username+IP counter.
 */
import type { KvStore } from '../../store/store.js';
import type { Clock } from '../../clock.js';
import { hashHandle } from '../../crypto/secrets.js';
import { ProviderError } from './errors.js';

export interface BruteForceLimits {
  perUserIp: number;
  perIp: number;
  /** seconds */
  window: number;
}

export class BruteForceGuard {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
    private readonly limits: BruteForceLimits,
  ) {}

  private keys(login: string, ip: string): { user: string; ip: string } {
    const n = Math.floor(this.clock.now() / 1000 / this.limits.window);
    // Hashed: the key must not carry a username or an IP in clear (store dumps, logs).
    return { user: `bf:u:${hashHandle(`${login.toLowerCase()}\n${ip}`)}:${n}`, ip: `bf:i:${hashHandle(ip)}:${n}` };
  }

  /** Throws abnormal_user_status when either counter is at its limit. */
  async check(login: string, ip: string): Promise<void> {
    const k = this.keys(login, ip);
    const [u, i] = await Promise.all([this.store.get(k.user), this.store.get(k.ip)]);
    if (Number(u ?? 0) >= this.limits.perUserIp || Number(i ?? 0) >= this.limits.perIp)
      throw new ProviderError('abnormal_user_status', 'too many failed logins; try again later', { cause: 'brute-force lockout' });
  }

  async fail(login: string, ip: string): Promise<void> {
    const k = this.keys(login, ip);
    await Promise.all([this.store.incr(k.user, this.limits.window), this.store.incr(k.ip, this.limits.window)]);
  }

  async succeed(login: string, ip: string): Promise<void> {
    await this.store.del(this.keys(login, ip).user);
  }
}
