/**
 * Password-verified logins waiting for their SMS code (protocols.md T2 d/f, T3, §5.3). One record
 * per login, written once and taken once: the password grant's `mfa_token` (10 minutes) or the
 * login page's interaction (its `p_state`) is the handle, stored only as a hash, under a key that
 * also names the kind so that a `p_state` can never be presented as an `mfa_token`.
 *
 * Keys: `mfa:{kind}:{sha256(handle)}` -> PendingMfa.
 */
import type { KvStore } from '../../../store/store.js';
import { epochSeconds, type Clock } from '../../../clock.js';
import { hashHandle } from '../../../crypto/secrets.js';

export type PendingKind = 'grant' | 'interaction';

export interface PendingMfa {
  readonly kind: PendingKind;
  readonly uid: string;
  readonly cid: string;
  /** the phone the code goes to, as the directory had it at the password step */
  readonly phone: string;
  /** password grant only: what the finished grant issues */
  readonly scope?: readonly string[];
  readonly authSourceId?: string;
  /** epoch seconds */
  readonly exp: number;
}

/** §5.3: an mfa_token lives 10 minutes. */
export const MFA_TOKEN_TTL = 600;

/** Handles are base64url of >= 128 bits; anything else is refused before a store lookup. */
const HANDLE = /^[A-Za-z0-9_-]{22,128}$/;

export class PendingLogins {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
  ) {}

  /** The store key of a handle, or null for a malformed handle. */
  static key(kind: PendingKind, handle: string): string | null {
    return HANDLE.test(handle) ? `mfa:${kind === 'grant' ? 'g' : 'i'}:${hashHandle(handle)}` : null;
  }

  async create(handle: string, fields: Omit<PendingMfa, 'exp'>): Promise<PendingMfa> {
    const key = PendingLogins.key(fields.kind, handle);
    if (!key) throw new Error('malformed second-factor handle');
    const pending: PendingMfa = { ...fields, exp: epochSeconds(this.clock) + MFA_TOKEN_TTL };
    await this.store.set(key, JSON.stringify(pending), MFA_TOKEN_TTL);
    return pending;
  }

  /** The live pending login, or null (malformed, unknown, used, ended, expired by the clock). */
  async get(kind: PendingKind, handle: string): Promise<PendingMfa | null> {
    const key = PendingLogins.key(kind, handle);
    if (!key) return null;
    const raw = await this.store.get(key);
    return this.live(raw);
  }

  /** Takes it for completion: exactly one caller gets it (GETDEL). */
  async take(kind: PendingKind, handle: string): Promise<PendingMfa | null> {
    const key = PendingLogins.key(kind, handle);
    return key ? this.live(await this.store.take(key)) : null;
  }

  async end(kind: PendingKind, handle: string): Promise<void> {
    const key = PendingLogins.key(kind, handle);
    if (key) await this.store.del(key);
  }

  private live(raw: string | null): PendingMfa | null {
    if (!raw) return null;
    const p = JSON.parse(raw) as PendingMfa;
    return p.exp > epochSeconds(this.clock) ? p : null;
  }
}
