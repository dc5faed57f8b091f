/**
 * Identity headers upstream: strip before inject (STYLE habit 7; gateway-lessons §4 "Spoofed
 * headers", §5.4, §5.8). Pure functions; the proxy applies them in rewriteRequestHeaders.
 *
 * Why the name folding: CGI/PHP, Rack, WSGI and others expose headers as HTTP_X_FORWARDED_USER, so
 * `X_Forwarded_User`, `X.Forwarded.User` and `x-forwarded-user` all reach the app as the same
 * variable (O2P GHSA-vjrc-mh2v-45x6, Traefik GHSA-x677-9fxg-v5c5). Every spelling that folds to a name
 * the gateway owns is removed, whatever its case, '_' or '.'.
 */
import { claimValue, type Identity } from './policy.js';

/** Canonical (lowercase) identity header names menshen sets upstream or on forward-auth answers. */
export const IDENTITY_HEADERS: readonly string[] = Object.freeze([
  'x-auth-request-user',
  'x-auth-request-email',
  'x-auth-request-preferred-username',
  'x-auth-request-groups',
  'x-auth-request-access-token',
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-groups',
  'x-forwarded-preferred-username',
  'x-forwarded-access-token',
  'x-menshen-assertion',
]);

/**
 * Whole families the gateway owns: any client-sent header in them is removed too, so a header the
 * gateway adds later (or oauth2-proxy's X-Auth-Request-Redirect) can never be forged upstream.
 */
const OWNED_PREFIXES: readonly string[] = ['x-auth-request-', 'x-menshen-'];

/** Only these characters change under folding; most names (Node lowercases received ones) have none. */
const FOLDABLE = /[A-Z_.]/;

/** Folds a header name the way header-to-variable mappings do: lowercase, '_' and '.' become '-'. */
export function foldHeaderName(name: string): string {
  return FOLDABLE.test(name) ? name.toLowerCase().replace(/[_.]/g, '-') : name;
}

type HeaderBag = Record<string, string | string[] | undefined>;

/**
 * A test for folded header names (foldHeaderName) that belong to the gateway: an identity header,
 * one of extraNames (the route's configured header names, and 'authorization' when
 * passAccessToken is on), or a name in the x-auth-request-* / x-menshen-* families. Built once
 * per set of names; the proxy keeps one per route table (upstream-headers.ts).
 */
export function identityHeaderMatcher(extraNames: readonly string[]): (folded: string) => boolean {
  const banned = new Set([...IDENTITY_HEADERS, ...extraNames.map(foldHeaderName)]);
  return (folded) => banned.has(folded) || OWNED_PREFIXES.some((p) => folded.startsWith(p));
}

/**
 * Removes from a Node IncomingHttpHeaders-like object (lowercase keys) every header whose folded name
 * equals an identity header, one of extraNames (the route's configured header names, and
 * 'authorization' when passAccessToken is on), or lies in the x-auth-request-* / x-menshen-*
 * families; returns a new object. Duplicates (array values) go with their name.
 */
export function stripIdentityHeaders(headers: HeaderBag, extraNames: readonly string[]): HeaderBag {
  const isIdentity = identityHeaderMatcher(extraNames);
  const out: HeaderBag = {};
  for (const [name, value] of Object.entries(headers)) {
    if (isIdentity(foldHeaderName(name))) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Request headers that tell an upstream who the client is or what it originally asked for. Only
 * the gateway may say that (it sets X-Forwarded-For/-Proto/-Host from the trust chain), so every
 * client spelling goes, folded like identity headers: `X_Forwarded_For`, `X.Forwarded.Host`,
 * Forwarded (RFC 7239), the X-Real-IP family that apps read client addresses from, and the
 * X-Original-URL / X-Rewrite-URL overrides that IIS and Symfony-era frameworks route by (a
 * client's X-Original-URL: /admin would be routed to /admin AFTER the gateway authorized '/').
 */
const FORWARDING_HEADERS: ReadonlySet<string> = new Set([
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'x-cluster-client-ip',
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  'x-original-host',
  'x-host',
]);
const FORWARDING_PREFIX = 'x-forwarded-';

/** True for a folded name (foldHeaderName) in the forwarding family above or X-Forwarded-*. */
export function isForwardingHeader(folded: string): boolean {
  return folded.startsWith(FORWARDING_PREFIX) || FORWARDING_HEADERS.has(folded);
}

/**
 * Hop-by-hop request headers (RFC 9110 §7.6.1): they describe the client's connection to the
 * gateway, not the request, and undici refuses several of them outright (a client's Keep-Alive,
 * Upgrade or Expect made every request a 502). Expect is the gateway's to answer (Node sends the
 * 100 Continue); Proxy-Connection is the pre-standard spelling of Connection.
 */
const HOP_BY_HOP: readonly string[] = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect'];

/** The fixed list alone, shared by every request without a Connection header (never modified). */
const HOP_BY_HOP_ONLY: ReadonlySet<string> = new Set(HOP_BY_HOP);

/**
 * Sets already built, by Connection value: every upstream response and most clients send the same
 * one or two values ('keep-alive', 'close'). Bounded: past this many distinct values, new ones are
 * built per call and not kept.
 */
const MAX_KNOWN_CONNECTION_VALUES = 64;
const byConnectionValue = new Map<string, ReadonlySet<string>>();

/** The hop-by-hop names of a request: the fixed list plus every name its Connection header lists. */
export function hopByHopNames(connection: string | string[] | undefined): ReadonlySet<string> {
  if (connection === undefined) return HOP_BY_HOP_ONLY;
  if (typeof connection === 'string') {
    let known = byConnectionValue.get(connection);
    if (!known) {
      known = listedHopByHopNames(connection);
      if (byConnectionValue.size < MAX_KNOWN_CONNECTION_VALUES) byConnectionValue.set(connection, known);
    }
    return known;
  }
  return listedHopByHopNames(connection);
}

function listedHopByHopNames(connection: string | string[]): ReadonlySet<string> {
  const names = new Set(HOP_BY_HOP);
  for (const part of (Array.isArray(connection) ? connection.join(',') : connection).split(',')) {
    const name = part.trim().toLowerCase();
    if (name !== '' && name !== 'host') names.add(name); // the upstream's Host is the gateway's to set
  }
  return names;
}

/** A test for cookie names in `names` (see stripCookies), compiled once per list of names. */
function cookieNameMatcher(names: readonly string[]): (cookieName: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const raw of names) {
    const n = raw.toLowerCase();
    if (n.endsWith('*')) prefixes.push(n.slice(0, -1));
    else exact.add(n);
  }
  return (cookieName) => {
    const c = cookieName.toLowerCase();
    const bare = c.replace(/^__(host|secure)-/, '');
    return exact.has(c) || exact.has(bare) || prefixes.some((p) => c.startsWith(p) || bare.startsWith(p));
  };
}

/** Matchers by names array: callers pass the same frozen list on every request (GatewayCookies.names). */
const cookieMatchers = new WeakMap<readonly string[], (cookieName: string) => boolean>();

/**
 * Removes the gateway's own cookies from a Cookie header value (gateway-lessons §5.8: they would only
 * leak the session ticket and bloat upstream headers, oauth2-proxy#644). A name matches its
 * `__Host-` and `__Secure-` variants, case-insensitively; a name ending in '*' is a prefix (for
 * families such as login-state cookies). Returns undefined if nothing is left.
 */
export function stripCookies(cookieHeader: string | undefined, names: readonly string[]): string | undefined {
  if (!cookieHeader) return undefined;
  let cookieNameMatches = cookieMatchers.get(names);
  if (!cookieNameMatches) cookieMatchers.set(names, (cookieNameMatches = cookieNameMatcher(names)));
  const kept: string[] = [];
  for (const piece of cookieHeader.split(';')) {
    const pair = piece.trim();
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = (eq === -1 ? '' : pair.slice(0, eq)).trim();
    if (name !== '' && cookieNameMatches(name)) continue;
    kept.push(pair);
  }
  return kept.length > 0 ? kept.join('; ') : undefined;
}

/** RFC 9110 §5.1 token: what a header name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Names a claim template must never set: framing, routing and the client's own cookies. */
const RESERVED_HEADER_NAMES = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'cookie',
  'proxy-authorization',
  'proxy-connection',
]);

/**
 * Why a configured template header name is unusable, or null when it is fine. Config validation
 * should report this at start; identityHeaders skips such names rather than fail a request.
 */
export function headerNameProblem(name: string): string | null {
  if (!TOKEN.test(name)) return 'is not a valid HTTP header name';
  if (RESERVED_HEADER_NAMES.has(name.toLowerCase())) return 'is reserved by HTTP and cannot carry identity';
  return null;
}

/** One scalar or array claim as text: arrays comma-joined, objects and absent values ''. */
function claimText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return v.map(claimText).filter((s) => s !== '').join(',');
  return '';
}

/**
 * "{preferred_username}" / "user={email},{sub}" -> claim values; arrays comma-joined; unknown or
 * object-valued claim -> ''. Only {name} placeholders with [A-Za-z0-9_.-]+ are replaced; dotted
 * names reach nested claims ("{address.country}"); anything else in braces stays literal.
 */
export function renderTemplate(template: string, claims: Record<string, unknown>): string {
  return template.replace(/\{([A-Za-z0-9_.-]+)\}/g, (_, name: string) => claimText(claimValue(claims, name)));
}

/**
 * Header-safe value: control characters (CR, LF, NUL, TAB, DEL ...) removed, then the UTF-8 bytes as
 * a latin1 string. Node and undici write header strings byte-per-char (latin1) and refuse characters
 * above U+00FF, so '张三' is sent as its UTF-8 bytes, as oauth2-proxy (Go) sends it;
 * `Buffer.from(v, 'latin1').toString('utf8')` reads it back.
 */
export function headerValue(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '');
  return Buffer.from(clean, 'utf8').toString('latin1');
}

/**
 * The identity headers for upstream (lowercase names): x-auth-request-user (sub), -email,
 * -preferred-username, -groups (comma-joined), x-forwarded-user, -email, -groups,
 * -preferred-username, the route's template headers, and authorization: Bearer <accessToken> when
 * given. Later entries win on a name clash (a route template may replace a built-in). Values are
 * sanitized (headerValue); an absent or empty value omits the header rather than sending it empty.
 */
export function identityHeaders(id: Identity, templates: Record<string, string>, accessToken?: string): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (name: string, text: string | undefined) => {
    if (text === undefined) return;
    const v = headerValue(text);
    if (v.trim() !== '') out[name.toLowerCase()] = v;
  };
  const groups = id.groups?.filter((g) => typeof g === 'string' && g !== '').join(',');

  put('x-auth-request-user', id.sub);
  put('x-auth-request-email', id.email);
  put('x-auth-request-preferred-username', id.preferred_username);
  put('x-auth-request-groups', groups);
  put('x-forwarded-user', id.sub);
  put('x-forwarded-email', id.email);
  put('x-forwarded-groups', groups);
  put('x-forwarded-preferred-username', id.preferred_username);

  const claims: Record<string, unknown> = { ...id.claims, sub: id.sub };
  if (id.email !== undefined) claims.email = id.email;
  if (id.preferred_username !== undefined) claims.preferred_username = id.preferred_username;
  if (id.groups !== undefined) claims.groups = id.groups;
  for (const [name, template] of Object.entries(templates)) {
    if (headerNameProblem(name) !== null) continue;
    put(name, renderTemplate(template, claims));
  }
  if (accessToken) put('authorization', `Bearer ${accessToken}`);
  return out;
}
