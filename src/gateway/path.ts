/**
 * Request-path normalization: the one place where a request target becomes the path the gateway
 * both MATCHES (route, publicPaths, policy) and FORWARDS upstream, so what is authorized is exactly
 * what the upstream receives (gateway-lessons §4 "Path handling", §5.5; POM CVE-2023-33189,
 * OAK GHSA-p224-6x5r-fjpm, heimdall GHSA-3q34-rx83-r6mq, Caddy PR #4407).
 *
 * Output form (RFC 3986 §6.2.2 syntax-based normalization, then stricter):
 * - percent-encoded unreserved characters (ALPHA / DIGIT / "-" / "." / "_" / "~") are decoded;
 *   every other escape is kept, with uppercase hex (%c3%a9 -> %C3%A9, %23 stays %23);
 * - characters that may not appear raw in a path (space, `"`, `<`, `>`, `[`, `]`, `^`, `` ` ``, `{`,
 *   `|`, `}` and non-ASCII) are percent-encoded (non-ASCII as UTF-8), so equal paths have one spelling;
 * - duplicate slashes are collapsed, `.` and `..` segments resolved (RFC 3986 §5.2.4, after decoding,
 *   so %2e%2e is `..`); a trailing slash is kept; `..` above the root is refused.
 *
 * Refused (ok: false; the caller answers 400), because upstream frameworks disagree on what they mean:
 * - %2F and %5C (encoded slash / backslash: some upstreams decode them into separators, others don't);
 * - a raw `\` (Windows/IIS and some Java containers treat it as `/`);
 * - `;` raw or as %3B (Tomcat/Spring strip `;jsessionid=...` path parameters, most others don't;
 *   Spring Security's StrictHttpFirewall rejects both spellings for the same reason);
 * - control characters raw or encoded (%00-%1F, %7F): NUL truncation, header smuggling;
 * - %25 followed by two hex digits (%252F): a second decode somewhere downstream would yield %2F;
 * - invalid escapes ('%', '%G0', '%u002e');
 * - overlong UTF-8 spellings of `.`, `/`, `\`, `;`, `%` or a control character (%C0%AE, %C0%AF, %C1%9C,
 *   %E0%80%AE, ...): decoders of the IIS era turned them into separators (CVE-2000-0884);
 * - a target that is not origin-form (absolute-form `http://x/y`, asterisk-form `*`, authority-form)
 *   or that still carries `?` or `#` (split those off first with splitUrl);
 * - paths longer than MAX_PATH_LENGTH characters.
 *
 * Not refused, and forwarded as is: trailing dots in a segment (`/admin.`, `/...`), letter case
 * (`/ADMIN` is not `/admin` to RFC 3986 §6.2.2.1), %23 and %3F (encoded `#`/`?` stay data). Route
 * prefixes are matched on matchKey(path), where case and trailing dots are folded, because some
 * upstreams fold them (IIS, Express and fastify with caseSensitive: false); see routes.ts.
 */

export type PathResult = { ok: true; path: string } | { ok: false; reason: string };

/** Longer request paths are refused; nginx's default large_client_header_buffers is 8k too. */
export const MAX_PATH_LENGTH = 8192;

const HEX = '0123456789ABCDEF';
const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9A-Fa-f]$/.test(c);
const isUnreservedCode = (b: number): boolean =>
  (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
const isControlCode = (b: number): boolean => b < 0x20 || b === 0x7f;
const encodeByte = (b: number): string => `%${HEX[b >> 4]}${HEX[b & 15]}`;

/**
 * Printable ASCII allowed raw in a path: unreserved, sub-delims (minus ';', refused separately),
 * ':', '@' (RFC 3986 pchar) and '/'.
 */
const RAW_ALLOWED = /^[A-Za-z0-9\-._~!$&'()*+,=:@/]$/;

/** Overlong UTF-8 encodings of characters that must never be smuggled (see module comment). */
const OVERLONG = /%C0%(?:AE|AF|BB|A5|[89][0-9A-F])|%C1%(?:9C|BF)|%E0%80%(?:AE|AF|BB|A5|[89][0-9A-F])|%E0%81%(?:9C|BF)|%F0%80%80%(?:AE|AF|BB|A5|[89][0-9A-F])|%F0%80%81%(?:9C|BF)/;

const refuse = (reason: string): PathResult => ({ ok: false, reason });

/**
 * Splits a raw request URL ('/a/b?x=1#f') into the raw path and the raw query (without '?'); drops any
 * fragment. A '#' never belongs to the path or the query (GHSA-pxq7-h93f-9jrg): browsers do not send
 * fragments, so one on the wire is dropped with everything after it.
 */
export function splitUrl(rawUrl: string): { rawPath: string; rawQuery: string } {
  const hash = rawUrl.indexOf('#');
  const beforeFragment = hash === -1 ? rawUrl : rawUrl.slice(0, hash);
  const q = beforeFragment.indexOf('?');
  return q === -1
    ? { rawPath: beforeFragment, rawQuery: '' }
    : { rawPath: beforeFragment.slice(0, q), rawQuery: beforeFragment.slice(q + 1) };
}

/** First pass: one canonical spelling of every character, or the reason the path is refused. */
function canonicalEncoding(raw: string): PathResult {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    const code = raw.charCodeAt(i);
    if (c === '%') {
      const h1 = raw[i + 1];
      const h2 = raw[i + 2];
      if (!isHex(h1) || !isHex(h2)) return refuse('invalid percent escape');
      const b = parseInt(h1! + h2!, 16);
      if (b === 0x2f) return refuse('encoded slash (%2F)');
      if (b === 0x5c) return refuse('encoded backslash (%5C)');
      if (b === 0x3b) return refuse("encoded ';' (%3B)");
      if (isControlCode(b)) return refuse('encoded control character');
      if (b === 0x25 && isHex(raw[i + 3]) && isHex(raw[i + 4])) return refuse('double percent-encoding (%25XX)');
      out += isUnreservedCode(b) ? String.fromCharCode(b) : encodeByte(b);
      i += 2;
    } else if (code < 0x80) {
      if (isControlCode(code)) return refuse('control character');
      if (c === '\\') return refuse('backslash');
      if (c === ';') return refuse("';' path parameter");
      if (c === '?' || c === '#') return refuse(`'${c}' in path (split the query and fragment off first)`);
      out += RAW_ALLOWED.test(c) ? c : encodeByte(code);
    } else {
      // Node's parser refuses raw non-ASCII on the wire; a caller passing a JS string means UTF-8.
      const cp = raw.codePointAt(i)!;
      if (cp >= 0xd800 && cp <= 0xdfff) return refuse('lone surrogate');
      const ch = String.fromCodePoint(cp);
      for (const b of Buffer.from(ch, 'utf8')) out += encodeByte(b);
      i += ch.length - 1;
    }
  }
  if (OVERLONG.test(out)) return refuse('overlong UTF-8 encoding');
  return { ok: true, path: out };
}

/** RFC 3986 §5.2.4 on a path already split into segments; empty segments ('//') are dropped. */
function resolveDotSegments(path: string): PathResult {
  const segments = path.split('/').slice(1);
  const out: string[] = [];
  let trailingSlash = false;
  for (const [i, seg] of segments.entries()) {
    const last = i === segments.length - 1;
    if (seg === '' || seg === '.') {
      trailingSlash = last;
    } else if (seg === '..') {
      if (out.length === 0) return refuse("'..' above the root");
      out.pop();
      trailingSlash = last;
    } else {
      out.push(seg);
      trailingSlash = false;
    }
  }
  const joined = `/${out.join('/')}`;
  return { ok: true, path: trailingSlash && out.length > 0 ? `${joined}/` : joined };
}

/** rawPath = the request target's path (no query, no fragment: split those off first). */
/**
 * A path normalization leaves exactly as it is: '/' then segments of unreserved characters, each
 * non-empty and not starting with '.' (so no '.' or '..' segment), an optional trailing slash.
 * Nearly every request path is one; it skips the character-by-character pass (gateway hot path).
 */
const ALREADY_NORMAL = /^(?:(?:\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+\/?|\/)$/;

export function normalizePath(rawPath: string): PathResult {
  if (typeof rawPath !== 'string' || rawPath.length === 0) return refuse('empty path');
  if (rawPath.length > MAX_PATH_LENGTH) return refuse(`path longer than ${MAX_PATH_LENGTH} characters`);
  if (ALREADY_NORMAL.test(rawPath)) return { ok: true, path: rawPath };
  // Origin-form only (RFC 9112 §3.2.1): absolute-form ('http://host/x'), authority-form and '*' would
  // let the target name another host than the one routed on.
  if (rawPath[0] !== '/') return refuse("path must start with '/'");
  const encoded = canonicalEncoding(rawPath);
  if (!encoded.ok) return encoded;
  return resolveDotSegments(encoded.path);
}

/** Trailing dots and encoded spaces of a segment: Windows (IIS) drops them from file names ('admin.' is 'admin'). */
const WINDOWS_TRIMMED_TAIL = /(?:\.|%20)+$/;

/**
 * A path matchKey returns unchanged: non-empty segments of printable ASCII without upper-case
 * letters, '.' or '%' (nothing to lower-case or trim), an optional trailing slash.
 */
const ALREADY_FOLDED = /^(?:(?:\/[!-$&-\-0-@[-~]+)+\/?|\/)$/;

/**
 * The spelling route prefixes are compared in, never forwarded: a normalized path with ASCII
 * letters lower-cased (case-insensitive routers: IIS, Express's default, find-my-way with
 * caseSensitive: false) and every segment's trailing dots and %20s cut, then empty segments
 * dropped (IIS serves '/admin./x' and '/admin%20/x' as '/admin/x'). A trailing slash is kept.
 * Percent escapes are already uppercase hex and non-ASCII is percent-encoded, so lower-casing
 * touches letters only. '/Admin./X' -> '/admin/x', '/.../a' -> '/a', '/' -> '/'.
 */
export function matchKey(path: string): string {
  if (ALREADY_FOLDED.test(path)) return path;
  const segments = path.split('/');
  const trailingSlash = path.length > 1 && path.endsWith('/');
  const kept: string[] = [];
  for (const seg of segments) {
    const folded = seg.toLowerCase().replace(WINDOWS_TRIMMED_TAIL, '');
    if (folded !== '') kept.push(folded);
  }
  const joined = `/${kept.join('/')}`;
  return trailingSlash && kept.length > 0 ? `${joined}/` : joined;
}

/**
 * True when a normalized path has a segment beginning or ending with '..' ('/..foo', '/a../b',
 * '/...'). Such paths are legal and normalization keeps them, but the proxy answers them with a
 * 400 of its own: upstreams that trim trailing dots from segments (Windows, IIS) read '/a../b' as
 * '/a/b' and '/..foo' next to a traversal, and no real application needs them. (The rule came from
 * @fastify/reply-from's traversal guard, which refused them with a 500-like error; the proxy hop
 * is now upstream-client.ts, and the rule stays, deliberately.)
 */
export function hasDotDotEdge(path: string): boolean {
  return path.includes('/..') || path.includes('../');
}
