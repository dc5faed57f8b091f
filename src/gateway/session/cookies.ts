/**
 * The gateway's two cookies, signed with gateway.session.secret (the first secret signs, every
 * secret verifies: rotation, as @fastify/cookie's Signer does):
 *   <name>        the session ticket `id.secret` (DESIGN §4)
 *   <name>-login  the pending login transactions of this browser: up to MAX_PENDING_LOGINS state
 *                 values, newest last. One cookie holding a capped list instead of one cookie per
 *                 login means login-state cookies can never pile up into a 431/400 "header too
 *                 large" (gateway-lessons #3, #13: mod_auth_openidc's delete-oldest cap).
 * On an https publicUrl both get Secure and the `__Host-` prefix (no Domain, Path=/).
 * Values are base64url handles joined by '.', plus the signature (base64): all RFC 6265
 * cookie-octets, so they are written and read without any encoding.
 */
import { Signer } from '@fastify/cookie';

export const MAX_PENDING_LOGINS = 5;
/**
 * Session cookie values whose signature verified, kept so that a browser sending the same cookie
 * again costs a Map lookup instead of an HMAC (the signature is a pure function of the value and
 * the configured secrets, which are fixed for the process: an identical value verifies
 * identically). Least recently used out first; ~0.3 KB per entry.
 */
export const VERIFIED_TICKETS = 2_000;
/**
 * How long a started login may take at the issuer: its transaction in the store and its state in
 * the pending-login cookie. Five minutes covers a password and a second factor; anonymous
 * requests create these, so they should not linger.
 */
export const LOGIN_TTL_SECONDS = 300;

const HANDLE = /^[A-Za-z0-9_-]{16,128}$/;

export interface SessionTicket {
  id: string;
  secret: string;
}

export class GatewayCookies {
  readonly sessionName: string;
  readonly loginName: string;
  private readonly signer: Signer;
  private readonly secure: boolean;
  /** Signed session cookie value -> its ticket (frozen: shared by every request that sends it). */
  private readonly verified = new Map<string, { ticket: SessionTicket; renew: boolean }>();

  constructor(opts: { cookieName: string; secrets: string | string[]; publicUrl: string }) {
    this.secure = new URL(opts.publicUrl).protocol === 'https:';
    const base = this.secure ? `__Host-${opts.cookieName}` : opts.cookieName;
    this.sessionName = base;
    this.loginName = `${base}-login`;
    this.names = Object.freeze([this.sessionName, this.loginName]);
    this.signer = new Signer(Array.isArray(opts.secrets) ? opts.secrets : [opts.secrets]);
  }

  /** Names never forwarded upstream (gateway-lessons #2, §5.8). */
  readonly names: readonly string[];

  /** The signed value, and whether it was signed with a secret other than the first (re-sign it). */
  private unsign(raw: string | undefined): { value: string; renew: boolean } | null {
    if (!raw) return null;
    try {
      const r = this.signer.unsign(raw);
      return r.valid ? { value: r.value, renew: r.renew } : null;
    } catch {
      return null;
    }
  }

  /**
   * Both cookies from a Cookie header; anything unsigned, forged or malformed reads as absent.
   * `renewTicket`: the ticket verified under an older secret, so the caller re-issues the cookie
   * signed with the current one (completing a secret rotation as users come back).
   */
  read(cookieHeader: string | undefined): { ticket: SessionTicket | null; renewTicket: boolean; pendingLogins: string[] } {
    if (!cookieHeader) return { ticket: null, renewTicket: false, pendingLogins: [] };
    const jar = readCookies(cookieHeader, this.names);
    const session = this.sessionTicket(jar.get(this.sessionName));
    const login = jar.get(this.loginName);
    return {
      ticket: session?.ticket ?? null,
      renewTicket: session?.renew ?? false,
      pendingLogins: login === undefined ? [] : this.parseLogins(this.unsign(login)?.value ?? null),
    };
  }

  /** The ticket of a signed session cookie value, or null; verified values are remembered (VERIFIED_TICKETS). */
  private sessionTicket(raw: string | undefined): { ticket: SessionTicket; renew: boolean } | null {
    if (!raw) return null;
    const known = this.verified.get(raw);
    if (known) {
      this.verified.delete(raw);
      this.verified.set(raw, known);
      return known;
    }
    const unsigned = this.unsign(raw);
    const ticket = this.parseTicket(unsigned?.value ?? null);
    if (!ticket) return null;
    const entry = { ticket: Object.freeze(ticket), renew: unsigned!.renew };
    this.verified.set(raw, entry);
    if (this.verified.size > VERIFIED_TICKETS) this.verified.delete(this.verified.keys().next().value as string);
    return entry;
  }

  private parseTicket(value: string | null): SessionTicket | null {
    if (!value) return null;
    const parts = value.split('.');
    if (parts.length !== 2 || !HANDLE.test(parts[0]!) || !HANDLE.test(parts[1]!)) return null;
    return { id: parts[0]!, secret: parts[1]! };
  }

  private parseLogins(value: string | null): string[] {
    if (!value) return [];
    return value.split('.').filter((s) => HANDLE.test(s)).slice(-MAX_PENDING_LOGINS);
  }

  private setCookie(name: string, value: string, maxAge: number): string {
    const expiry = maxAge > 0 ? `Max-Age=${maxAge}` : 'Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
    return `${name}=${value}; Path=/; ${expiry}; HttpOnly; SameSite=Lax${this.secure ? '; Secure' : ''}`;
  }

  /** Set-Cookie for a session ticket living at most `maxAge` seconds. */
  sessionCookie(ticket: SessionTicket, maxAge: number): string {
    return this.setCookie(this.sessionName, this.signer.sign(`${ticket.id}.${ticket.secret}`), maxAge);
  }

  clearSession(): string {
    return this.setCookie(this.sessionName, '', 0);
  }

  /** Set-Cookie for the pending-login list (oldest dropped beyond the cap), or a clearing one when empty. */
  loginCookie(states: string[]): string {
    const kept = states.slice(-MAX_PENDING_LOGINS);
    if (kept.length === 0) return this.setCookie(this.loginName, '', 0);
    return this.setCookie(this.loginName, this.signer.sign(kept.join('.')), LOGIN_TTL_SECONDS);
  }
}

/**
 * The first value of each wanted cookie in a Cookie header (RFC 6265 §5.4 puts the most specific
 * first; a duplicate planted for a parent path or domain comes later and is ignored).
 */
export function readCookies(header: string, wanted: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const piece of header.split(';')) {
    const eq = piece.indexOf('=');
    if (eq === -1) continue;
    const name = piece.slice(0, eq).trim();
    if (!wanted.includes(name) || out.has(name)) continue;
    let value = piece.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out.set(name, value);
  }
  return out;
}
