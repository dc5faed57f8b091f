/**
 * The daily cap of SMS codes per phone (provider.mfa.sms.dailyLimit): a counter per phone and
 * calendar day (UTC), the day taken from the injected clock so tests move time instead of
 * sleeping; the store TTL only cleans up. The phone is hashed in the key (no PII in key names).
 */
import type { KvStore } from '../../../store/store.js';
import type { Clock } from '../../../clock.js';
import { hashHandle } from '../../../crypto/secrets.js';

const DAY_MS = 86_400_000;

export class DailyCap {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
    private readonly limit: number,
  ) {}

  /**
   * Counts one send to this phone today. Returns null when allowed, else the seconds until the
   * next day starts (the caller's Retry-After).
   */
  async take(phone: string): Promise<number | null> {
    const now = this.clock.now();
    const day = Math.floor(now / DAY_MS);
    const count = await this.store.incr(`mfaday:${hashHandle(phone)}:${day}`, 2 * 86400);
    if (count <= this.limit) return null;
    return Math.max(1, Math.ceil(((day + 1) * DAY_MS - now) / 1000));
  }
}
