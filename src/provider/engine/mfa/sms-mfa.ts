/**
 * The SMS second factor (Tencent EIAM flow, protocols.md T2 d/f, T3, §5.1, §5.3, §5.4), plugged
 * into the engine's SecondFactor seam. After a correct password a user with a phone (and `mfa` not
 * false) is parked as a pending login: the password grant answers 403 `mfa_required` with an
 * `mfa_token`, the login page moves to its SMS step. `challenge` sends a code (at most once per
 * `resendInterval` per login, at most `dailyLimit` per phone and day); `verify` checks it (at most
 * `maxAttempts` wrong codes per login and per user in 10 minutes, then the login ends) and hands the pending login over exactly once.
 *
 * Lifetimes follow the injected clock (§5.3: mfa_token 10 min, code 5 min); store TTLs only clean up.
 */
import type { SmsConfig } from '../../../config/schema.js';
import type { KvStore } from '../../../store/store.js';
import { epochSeconds, type Clock } from '../../../clock.js';
import { randomHandle } from '../../../crypto/secrets.js';
import { SmsDeliveryError, maskPhone, type SmsSender } from '../../sms/sender.js';
import type { Client } from '../clients.js';
import type { User } from '../directory.js';
import { ProviderError } from '../errors.js';
import type { EngineLogger } from '../logout.js';
import type { PendingGrantLogin, PendingInteractionLogin, SecondFactor } from '../second-factor.js';
import { Challenges, type Challenge } from './challenges.js';
import { DailyCap } from './daily-cap.js';
import { PendingLogins, type PendingKind, type PendingMfa } from './pending.js';

export interface SmsMfaDeps {
  readonly store: KvStore;
  readonly clock: Clock;
  readonly config: SmsConfig;
  readonly sender: SmsSender;
  readonly log: EngineLogger;
}

/** What a send produced; `oobCode` is the T3 `oob_code` (for the login page: its own p_state). */
export interface SentChallenge {
  readonly oobCode: string;
  /** seconds the code stays valid */
  readonly expiresIn: number;
  /** masked phone, for the page */
  readonly sentTo: string;
}

/** The login page's view of its SMS step. */
export interface SmsStepState {
  readonly pending: PendingMfa;
  readonly sentTo: string;
  /** null before the first send */
  readonly challenge: Challenge | null;
  /** seconds until a resend is allowed (0: now) */
  readonly resendIn: number;
  readonly attemptsLeft: number;
}

/** Where the login page's SMS step lives, under the provider mount. */
export const SMS_STEP_PATH = '/login/sms';

const invalidCode = (cause: string) => new ProviderError('invalid_oob_code', 'invalid code', { cause });
const rateLimited = (retryAfter: number, detail: string) =>
  new ProviderError('rate_limited', detail, { extra: { retry_after: String(retryAfter) } });

export class SmsMfa implements SecondFactor {
  readonly pending: PendingLogins;
  readonly challenges: Challenges;
  private readonly cap: DailyCap;

  constructor(private readonly deps: SmsMfaDeps) {
    this.pending = new PendingLogins(deps.store, deps.clock);
    this.challenges = new Challenges(deps.store, deps.clock, deps.config.codeTtl);
    this.cap = new DailyCap(deps.store, deps.clock, deps.config.dailyLimit);
  }

  get config(): SmsConfig {
    return this.deps.config;
  }

  /** DESIGN.md §2: on, every password login of a user with a phone needs the code, unless `mfa: false`. */
  required(user: User, _client: Client): boolean {
    return this.deps.config.enabled && user.mfa && Boolean(user.phone);
  }

  async beginGrant(p: PendingGrantLogin): Promise<string> {
    const mfaToken = randomHandle();
    await this.pending.create(mfaToken, {
      kind: 'grant',
      uid: p.user.id,
      cid: p.client.id,
      phone: p.user.phone!,
      scope: [...p.scope],
      authSourceId: p.authSourceId,
    });
    return mfaToken;
  }

  async beginInteraction(p: PendingInteractionLogin): Promise<string> {
    // The same p_state may carry a second password login (the user went back to the form). If it
    // is another user, nothing of the first one's SMS step may carry over: not its code, not its count.
    const previous = await this.pending.get('interaction', p.interactionId);
    if (previous && (previous.uid !== p.user.id || previous.phone !== p.user.phone)) {
      const key = PendingLogins.key('interaction', p.interactionId);
      if (key) await this.challenges.clear(key);
    }
    await this.pending.create(p.interactionId, { kind: 'interaction', uid: p.user.id, cid: p.client.id, phone: p.user.phone! });
    return `${SMS_STEP_PATH}?p_state=${encodeURIComponent(p.interactionId)}`;
  }

  /**
   * Sends a new code for a pending login of this client (T3; the login page's first send and
   * resend). A resend replaces the previous challenge. Throws invalid_oob_code (unknown, expired or
   * another client's handle), rate_limited (resend interval, daily cap, a send already under way)
   * or delivery_failed (the sender failed: nothing is stored, the user may retry at once).
   */
  async challenge(kind: PendingKind, handle: string, clientId: string): Promise<SentChallenge> {
    const key = PendingLogins.key(kind, handle);
    const p = key ? await this.pending.get(kind, handle) : null;
    if (!key || !p || p.cid !== clientId) throw invalidCode('unknown, expired or foreign mfa_token');
    const { config, sender, clock, log } = this.deps;
    const lock = await this.challenges.lock(key, config.webhook.timeoutMs + 5000);
    if (!lock) throw rateLimited(Math.ceil(config.webhook.timeoutMs / 1000) + 1, 'a code is being sent');
    try {
      const current = await this.challenges.get(key, p.uid);
      const wait = current ? current.sentAt + config.resendInterval * 1000 - clock.now() : 0;
      if (wait > 0) throw rateLimited(Math.ceil(wait / 1000), 'sms resend too soon');
      const nextDay = await this.cap.take(p.phone);
      if (nextDay !== null) {
        log.warn({ uid: p.uid, phone: maskPhone(p.phone) }, 'daily SMS limit reached for this phone');
        throw rateLimited(nextDay, 'daily sms limit reached');
      }
      const remaining = p.exp - epochSeconds(clock);
      const fresh = this.challenges.draw(p.uid, remaining, kind === 'interaction' ? handle : undefined);
      const expiresIn = fresh.challenge.exp - epochSeconds(clock);
      try {
        await sender.send({ phone: p.phone, code: fresh.digits, purpose: 'login', expiresIn });
      } catch (err) {
        if (!(err instanceof SmsDeliveryError)) throw err;
        log.error({ sender: sender.kind, reason: err.reason, err: err.message, uid: p.uid }, 'SMS delivery failed');
        throw new ProviderError('delivery_failed', 'sms delivery failed', { cause: err.message });
      }
      await this.challenges.save(key, fresh.challenge, remaining);
      return { oobCode: fresh.oobCode, expiresIn, sentTo: maskPhone(p.phone) };
    } finally {
      await lock.release();
    }
  }

  /**
   * Checks the digits of the live challenge; on success takes the pending login (one-time) and
   * returns it. Throws invalid_oob_code (§5.4 `invalid code`: unknown, expired, used or ended
   * handle or oob_code) or invalid_binding_code (§5.4: wrong digits; the `maxAttempts`-th wrong
   * code also ends the login).
   */
  async verify(kind: PendingKind, handle: string, clientId: string, oobCode: string, digits: string): Promise<PendingMfa> {
    const key = PendingLogins.key(kind, handle);
    const p = key ? await this.pending.get(kind, handle) : null;
    if (!key || !p || p.cid !== clientId) throw invalidCode('unknown, expired or foreign mfa_token');
    const { config, clock, log } = this.deps;
    const ttl = p.exp - epochSeconds(clock);
    const [challenge, attempt, userGuess] = await Promise.all([
      this.challenges.get(key, p.uid),
      this.challenges.attempt(key, ttl),
      this.challenges.reserveUserGuess(p.uid),
    ]);
    // The worse of this login's count and the user's count over all their logins in the window.
    const spent = Math.max(attempt, userGuess.count);
    if (spent > config.maxAttempts) {
      await Promise.all([this.endLogin(kind, handle, key), userGuess.refund()]);
      throw invalidCode('too many wrong codes: login ended');
    }
    const result = this.challenges.check(challenge, oobCode, digits.trim());
    if (result === 'no_challenge' || result === 'wrong_oob' || result === 'expired') {
      await userGuess.refund();
      throw invalidCode(`oob code: ${result}`);
    }
    if (result === 'wrong_code') {
      if (spent >= config.maxAttempts) {
        await this.endLogin(kind, handle, key);
        log.warn({ uid: p.uid, attempts: attempt, userAttempts: userGuess.count }, 'too many wrong SMS codes: login ended');
      }
      throw new ProviderError('invalid_binding_code', 'invalid binding_code', {
        extra: { attempts_left: String(Math.max(0, config.maxAttempts - spent)) },
      });
    }
    const taken = await this.pending.take(kind, handle);
    if (!taken) {
      await userGuess.refund();
      throw invalidCode('pending login already used');
    }
    await Promise.all([this.challenges.clear(key), userGuess.clear()]);
    return taken;
  }

  /** The login page's SMS step: what to show (null when the pending login is gone). */
  async state(handle: string, clientId: string): Promise<SmsStepState | null> {
    const key = PendingLogins.key('interaction', handle);
    const p = key ? await this.pending.get('interaction', handle) : null;
    if (!key || !p || p.cid !== clientId) return null;
    const [challenge, own, user] = await Promise.all([this.challenges.get(key, p.uid), this.challenges.attempts(key), this.challenges.userGuesses(p.uid)]);
    const attempts = Math.max(own, user);
    const wait = challenge ? challenge.sentAt + this.deps.config.resendInterval * 1000 - this.deps.clock.now() : 0;
    return {
      pending: p,
      sentTo: maskPhone(p.phone),
      challenge,
      resendIn: Math.max(0, Math.ceil(wait / 1000)),
      attemptsLeft: Math.max(0, this.deps.config.maxAttempts - attempts),
    };
  }

  private async endLogin(kind: PendingKind, handle: string, key: string): Promise<void> {
    await Promise.all([this.pending.end(kind, handle), this.challenges.clear(key)]);
  }
}
