/**
 * Redirect targets after login and logout: no open redirects (gateway-lessons §4 "Open redirect":
 * O2P GHSA-qqxw-m5fj-f7gv, GHSA-j7px-6hwj-hpjg, GHSA-5m6c-jp6f-2vcv, GHSA-4mf2-f3wh-gvf2, MAO
 * CVE-2022-23527, AUT PR #293).
 *
 * Accepted:
 * - a relative target '/x...': '/' followed by neither '/' nor '\' (so never protocol-relative),
 *   resolved against publicOrigin;
 * - an absolute 'http://' or 'https://' URL whose origin (scheme + host + port, exactly, after URL
 *   parsing) is publicOrigin's or one of allowedOrigins. No subdomain or suffix matching.
 * Refused (null):
 * - anything outside printable ASCII raw (control characters, spaces, tabs, non-ASCII lookalikes);
 * - '\' anywhere, raw or percent-encoded, and control characters percent-encoded anywhere
 *   ('/%09/evil.com' becomes '//evil.com' wherever a tab is stripped after decoding);
 * - a relative target whose decoded form starts with '//', '/\' or '/' + whitespace ('/%2F/evil.com',
 *   '/%20/evil.com');
 * - scheme-relative or schemeless spellings ('//evil.com', 'https:evil.com', 'https:/evil.com'),
 *   other schemes (javascript:, data:, vbscript:), bare names ('evil.com'), '?x', '#x';
 * - userinfo ('http://evil.com@gw.example.com') and '%' in the authority (percent-encoded hosts);
 * - anything whose parsed origin differs from the origin written, or that URL parsing rejects.
 */

/** Longer targets are refused: nothing legitimate needs more, and they bloat state cookies. */
export const MAX_REDIRECT_LENGTH = 4096;

/** Printable ASCII only, raw. */
const PRINTABLE_ASCII = /^[\x21-\x7e]*$/;

/** Percent-decodes byte by byte (latin1), so invalid UTF-8 cannot hide a control byte. null on a bad escape. */
function decodeBytes(s: string): string | null {
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) return null;
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** Also decode as UTF-8 where possible, to see encoded Unicode whitespace (%E3%80%80, %C2%A0). */
function decodeUtf8(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

function originOf(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
  } catch {
    return null;
  }
}

/** Leading characters after '/' that would make a relative target leave the origin somewhere. */
const ESCAPING_START = /^\/[\s\/\\\p{Cf}]/u;

/**
 * Returns an absolute URL string safe to redirect to, or null. See the module comment for what is
 * accepted. publicOrigin may carry a path ('https://gw.example.com/'); only its origin counts.
 */
export function safeRedirect(
  target: string | undefined | null,
  publicOrigin: string,
  allowedOrigins: readonly string[] = [],
): string | null {
  if (typeof target !== 'string' || target === '' || target.length > MAX_REDIRECT_LENGTH) return null;
  if (!PRINTABLE_ASCII.test(target) || target.includes('\\')) return null;
  const bytes = decodeBytes(target);
  if (bytes === null || /[\u0000-\u001f\u007f\\]/.test(bytes)) return null;
  const home = originOf(publicOrigin);
  if (home === null) return null;

  if (target.startsWith('/')) {
    if (ESCAPING_START.test(target) || ESCAPING_START.test(bytes)) return null;
    const text = decodeUtf8(target);
    if (text !== null && ESCAPING_START.test(text)) return null;
    let resolved: URL;
    try {
      resolved = new URL(target, home);
    } catch {
      return null;
    }
    return resolved.origin === home ? resolved.href : null;
  }

  const m = /^(https?):\/\/([^/?#]*)/i.exec(target);
  if (!m) return null;
  const authority = m[2]!;
  if (authority === '' || authority.includes('@') || authority.includes('%')) return null;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return null;
  }
  if (url.username !== '' || url.password !== '') return null;
  // The origin URL parsing sees must be the one written: scheme and authority only re-cased or with a
  // default port dropped (no IDNA rewrite, no IPv4 shorthand turning '0x7f.1' into '127.0.0.1').
  const written = `${m[1]!.toLowerCase()}://${authority.toLowerCase()}`;
  const defaultPort = url.protocol === 'https:' ? ':443' : ':80';
  if (url.origin !== written && `${url.origin}${defaultPort}` !== written) return null;
  const allowed = new Set([home, ...allowedOrigins.map(originOf).filter((o): o is string => o !== null)]);
  return allowed.has(url.origin) ? url.href : null;
}
