/**
 * Login through the issuer (DESIGN §4): a browser that needs a session is sent to the authorize
 * endpoint with state, nonce and PKCE S256. The transaction (verifier, nonce, where to return)
 * stays server-side in the store under the state, sealed with a key derived from the state
 * itself, so the store alone never reveals a PKCE verifier; the browser only carries the state
 * in the capped, signed pending-login cookie (cookies.ts), which binds the callback to the
 * browser that started it (login CSRF).
 * `/_menshen/callback` takes the transaction once, redeems the code, always creates a NEW session
 * (fixation: the id the browser presented is discarded) and returns to the original URL, same
 * origin only (safeRedirect).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { deriveKey, seal, unseal } from '../crypto/seal.js';
import { hashHandle, randomHandle } from '../crypto/secrets.js';
import type { KvStore } from '../store/store.js';
import { epochSeconds, type Clock } from '../clock.js';
import type { Metrics } from '../ops/metrics.js';
import { LoginFailed, TooManyLogins } from './errors.js';
import { safeRedirect } from './redirect.js';
import type { RelyingParty } from './rp.js';
import { LOGIN_TTL_SECONDS, type GatewayCookies } from './session/cookies.js';
import { identityClaims } from './session/session.js';
import type { SessionStore } from './session/store.js';

interface LoginTransaction {
  /** PKCE code verifier */
  v: string;
  /** nonce */
  n: string;
  /** where to return: a same-origin path + query (no origin: it is always the public one) */
  r: string;
}

const TX_INFO = 'menshen gateway login v1';
const txKey = (state: string) => `gw:login:${hashHandle(state)}`;
const rateKey = (ip: string) => `gw:loginrate:${ip}`;
/**
 * Longer return targets are dropped for the home page: anonymous requests create transactions,
 * and a 4 KB URL made each one ~5.6 KB in the store. Real deep links are far shorter.
 */
export const MAX_RETURN_LENGTH = 2048;
const RATE_WINDOW_SECONDS = 60;

export interface LoginDeps {
  kv: KvStore;
  rp: RelyingParty;
  cookies: GatewayCookies;
  sessions: SessionStore;
  metrics: Metrics;
  /** server.publicUrl without a trailing slash */
  publicUrl: string;
  sessionTtl: number;
  clock: Clock;
  /** New logins per client IP per minute (gateway.loginRateLimit); 0: unlimited. */
  loginRateLimit: number;
}

export class LoginFlow {
  private readonly publicOrigin: string;

  constructor(private readonly deps: LoginDeps) {
    this.publicOrigin = new URL(deps.publicUrl).origin;
  }

  /** Where a browser lands (absolute URL); only same-origin targets survive, else the home page (gateway-lessons §4). */
  safeReturn(target: string | undefined): string {
    return safeRedirect(target, this.publicOrigin) ?? `${this.publicOrigin}/`;
  }

  /** Same-origin path + query to keep in a transaction: '/' for anything unsafe or too long. */
  private returnPathOf(target: string): string {
    if (target.length > MAX_RETURN_LENGTH) return '/';
    const url = new URL(this.safeReturn(target));
    return `${url.pathname}${url.search}`;
  }

  /**
   * Starts a login that returns to `returnTo`, replying with the redirect to the issuer. Each
   * client IP may start loginRateLimit per minute (TooManyLogins beyond): every start keeps a
   * transaction in the store, and anonymous requests are all it takes.
   */
  async start(req: FastifyRequest, reply: FastifyReply, returnTo: string): Promise<FastifyReply> {
    const limit = this.deps.loginRateLimit;
    if (limit > 0 && (await this.deps.kv.incr(rateKey(req.ip), RATE_WINDOW_SECONDS)) > limit) throw new TooManyLogins();
    const state = randomHandle(24);
    // 32 random bytes as base64url: 43 characters, the RFC 7636 §4.1 verifier alphabet and minimum length.
    const tx: LoginTransaction = { v: randomHandle(32), n: randomHandle(16), r: this.returnPathOf(returnTo) };
    const location = await this.deps.rp.authorizationUrl({ state, nonce: tx.n, codeVerifier: tx.v });
    await this.deps.kv.set(txKey(state), seal(JSON.stringify(tx), deriveKey(state, TX_INFO)), LOGIN_TTL_SECONDS);
    const pending = this.deps.cookies.read(req.headers.cookie).pendingLogins;
    return reply
      .header('cache-control', 'no-store')
      .header('set-cookie', this.deps.cookies.loginCookie([...pending, state]))
      .redirect(location, 302);
  }

  /** `/_menshen/callback`: redeems the code and creates the session. */
  async callback(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const query = req.query as Record<string, unknown>;
    const state = typeof query.state === 'string' ? query.state : '';
    const { ticket, pendingLogins } = this.deps.cookies.read(req.headers.cookie);
    if (!state || !pendingLogins.includes(state)) {
      this.deps.metrics.logins.inc({ where: 'gateway', outcome: 'failure' });
      throw new LoginFailed('this sign-in expired or was started in another browser; please try again');
    }
    const box = await this.deps.kv.take(txKey(state));
    const json = box === null ? null : unseal(box, deriveKey(state, TX_INFO));
    // Whatever happens next, this state is spent: drop it from the browser's list.
    reply.header('set-cookie', this.deps.cookies.loginCookie(pendingLogins.filter((s) => s !== state)));
    if (json === null) {
      this.deps.metrics.logins.inc({ where: 'gateway', outcome: 'failure' });
      throw new LoginFailed('this sign-in expired; please try again');
    }
    const tx = JSON.parse(json) as LoginTransaction;
    // openid-client derives redirect_uri from this URL: it must be the public callback URL.
    const callbackUrl = new URL(`${this.deps.publicUrl}/_menshen/callback`);
    const qs = req.url.indexOf('?');
    callbackUrl.search = qs >= 0 ? req.url.slice(qs) : '';
    let tokens;
    try {
      tokens = await this.deps.rp.exchange(callbackUrl, { state, nonce: tx.n, codeVerifier: tx.v });
    } catch (err) {
      this.deps.metrics.logins.inc({ where: 'gateway', outcome: 'failure' });
      throw err;
    }
    if (ticket) {
      const old = await this.deps.sessions.load(ticket);
      if (old) await this.deps.sessions.destroy(old);
    }
    const session = await this.deps.sessions.create({
      claims: identityClaims(tokens.claims),
      ...(typeof tokens.claims.sid === 'string' ? { psid: tokens.claims.sid } : {}),
      at: tokens.accessToken,
      ...(tokens.expiresIn !== undefined ? { atExp: this.atExpiry(tokens.expiresIn) } : {}),
      ...(tokens.refreshToken ? { rt: tokens.refreshToken } : {}),
      ...(tokens.idToken ? { idt: tokens.idToken } : {}),
    });
    this.deps.metrics.logins.inc({ where: 'gateway', outcome: 'success' });
    this.deps.metrics.sessions.inc({ event: 'created' });
    return reply
      .header('set-cookie', this.deps.cookies.sessionCookie(session, this.deps.sessionTtl))
      .header('cache-control', 'no-store')
      .redirect(this.safeReturn(tx.r), 302);
  }

  private atExpiry(expiresIn: number): number {
    return epochSeconds(this.deps.clock) + expiresIn;
  }
}
