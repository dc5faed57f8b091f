/**
 * The two provider cookies, parsed and written by hand (RFC 6265) so the provider does not depend on
 * which cookie plugin the gateway registers. Both are HttpOnly, SameSite=Lax (they must ride the
 * top-level GET from a client to authorize), Secure on an https issuer, and scoped to the mount path.
 */

/** The provider SSO session: `<sid>.<secret>` (engine/sso-sessions.ts). */
export const SSO_COOKIE = 'menshen_op';
/** The browser's secret that signs the login forms' CSRF tokens (csrf.ts). */
export const CSRF_COOKIE = 'menshen_op_csrf';

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > 16384) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    try {
      return decodeURIComponent(raw);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export interface CookieScope {
  path: string;
  secure: boolean;
}

export function setCookie(name: string, value: string, scope: CookieScope, maxAgeSeconds?: number): string {
  const parts = [`${name}=${encodeURIComponent(value)}`, `Path=${scope.path}`, 'HttpOnly', 'SameSite=Lax'];
  if (scope.secure) parts.push('Secure');
  if (maxAgeSeconds !== undefined) parts.push(`Max-Age=${maxAgeSeconds}`);
  return parts.join('; ');
}

export function clearCookie(name: string, scope: CookieScope): string {
  return setCookie(name, '', scope, 0);
}
