/**
 * The SMS challenge of a pending login: the `oob_code` handed to the client (T3) and the digits sent
 * to the phone, each stored only as a hash. The digits are hashed together with the oob_code, which
 * the store never holds in clear, so a store dump cannot be brute-forced over the 10^6 codes.
 * A pending login has at most one live challenge: a resend replaces it (the old oob_code and digits
 * die). Wrong digits are counted per pending login, across resends, so resending never buys more
 * guesses (§5.3: 5 wrong codes end the challenge; here they end the whole login).
 *
 * Wrong digits are also counted per user (any of the user's logins, fixed 10-minute windows), so
 * signing in again with the password does not buy another `maxAttempts` guesses.
 *
 * Keys (h = the pending key's hash part):
 *   mfach:{h}  -> Challenge
 *   mfaw:{h}   -> verification attempts counter
 *   mfalk:{h}  -> a short lock around a send, so two concurrent resends send one SMS
 *   mfauw:{sha256(uid)}:{window} -> the user's wrong codes in the window
 */
import { randomInt } from 'node:crypto';
import type { KvStore, Lock } from '../../../store/store.js';
import { epochSeconds, type Clock } from '../../../clock.js';
import { hashHandle, randomHandle, safeEqual } from '../../../crypto/secrets.js';

export interface Challenge {
  /** the user the code was sent to: a challenge never serves another user's login */
  readonly uid: string;
  /** sha256(oob_code) */
  readonly oob: string;
  /** sha256(oob_code ":" digits) */
  readonly code: string;
  /** epoch seconds: the code's end */
  readonly exp: number;
  /** ms (clock) of the send, for the resend interval */
  readonly sentAt: number;
}

export interface NewChallenge {
  readonly oobCode: string;
  readonly digits: string;
  readonly challenge: Challenge;
}

export type CheckResult = 'ok' | 'no_challenge' | 'wrong_oob' | 'expired' | 'wrong_code';

export const CODE_DIGITS = 6;

/** Seconds of the per-user wrong-code window: a pending login's lifetime (MFA_TOKEN_TTL, §5.3). */
export const USER_GUESS_WINDOW = 600;

export class Challenges {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
    private readonly codeTtlSeconds: number,
  ) {}

  /**
   * Draws digits and an oob_code (or binds the digits to a handle the caller already holds: the
   * login page uses its p_state, which the browser carries anyway). Valid for `ttlSeconds`, at
   * most the configured code lifetime. Nothing is stored until `save` (after the SMS went out).
   */
  draw(uid: string, ttlSeconds: number, oobCode: string = randomHandle()): NewChallenge {
    const digits = String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0');
    const challenge: Challenge = {
      uid,
      oob: hashHandle(oobCode),
      code: hashHandle(`${oobCode}:${digits}`),
      exp: epochSeconds(this.clock) + Math.min(ttlSeconds, this.codeTtlSeconds),
      sentAt: this.clock.now(),
    };
    return { oobCode, digits, challenge };
  }

  async save(pendingKey: string, challenge: Challenge, ttlSeconds: number): Promise<void> {
    await this.store.set(`mfach:${pendingKey}`, JSON.stringify(challenge), Math.max(1, ttlSeconds));
  }

  /** The live challenge of a pending login for this user (one sent to another user does not count). */
  async get(pendingKey: string, uid: string): Promise<Challenge | null> {
    const raw = await this.store.get(`mfach:${pendingKey}`);
    const challenge = raw ? (JSON.parse(raw) as Challenge) : null;
    return challenge && challenge.uid === uid ? challenge : null;
  }

  /** Compares a presented oob_code and digits with the live challenge (constant time). */
  check(challenge: Challenge | null, oobCode: string, digits: string): CheckResult {
    if (!challenge) return 'no_challenge';
    if (!safeEqual(hashHandle(oobCode), challenge.oob)) return 'wrong_oob';
    if (challenge.exp <= epochSeconds(this.clock)) return 'expired';
    return safeEqual(hashHandle(`${oobCode}:${digits}`), challenge.code) ? 'ok' : 'wrong_code';
  }

  /**
   * Counts one verification attempt before the comparison, so that even concurrent guesses get at
   * most `maxAttempts` comparisons per pending login; returns the count so far.
   */
  attempt(pendingKey: string, ttlSeconds: number): Promise<number> {
    return this.store.incr(`mfaw:${pendingKey}`, Math.max(1, ttlSeconds));
  }

  async attempts(pendingKey: string): Promise<number> {
    return Number((await this.store.get(`mfaw:${pendingKey}`)) ?? 0);
  }

  /**
   * Reserves one guess against the user's own counter (all of the user's pending logins together,
   * in fixed windows of USER_GUESS_WINDOW seconds on the injected clock): a new password login
   * starts a new pending login but not a new count, so `maxAttempts` bounds a user's wrong codes
   * per window, not per login. Counted before the comparison like `attempt`; the caller refunds a
   * reservation that was no guess (no live challenge, wrong oob_code) and clears the counter on a
   * right code.
   */
  async reserveUserGuess(uid: string): Promise<{ count: number; refund(): Promise<void>; clear(): Promise<void> }> {
    const key = this.userGuessKey(uid);
    const count = await this.store.incr(key, USER_GUESS_WINDOW);
    return {
      count,
      refund: async () => {
        await this.store.decr(key);
      },
      clear: () => this.store.del(key),
    };
  }

  /** Wrong codes of this user in the current window. */
  async userGuesses(uid: string): Promise<number> {
    return Number((await this.store.get(this.userGuessKey(uid))) ?? 0);
  }

  private userGuessKey(uid: string): string {
    return `mfauw:${hashHandle(uid)}:${Math.floor(this.clock.now() / 1000 / USER_GUESS_WINDOW)}`;
  }

  lock(pendingKey: string, ttlMs: number): Promise<Lock | null> {
    return this.store.lock(`mfalk:${pendingKey}`, ttlMs);
  }

  /** Forgets the challenge and its counter (login finished or ended). */
  async clear(pendingKey: string): Promise<void> {
    await this.store.del(`mfach:${pendingKey}`, `mfaw:${pendingKey}`);
  }
}
