/**
 * Route table: (Host, normalized path) -> the one route that owns the request. The gateway decides
 * authentication, policy AND the upstream from this single match (POM CVE-2023-33189: never match a
 * second time on another spelling of the request).
 *
 * Rules:
 * - the path given to match() must already be normalized (path.ts); configured prefixes and public
 *   paths are normalized the same way when the table is compiled;
 * - prefixes are segment-aware: '/app' (or '/app/') matches '/app', '/app/' and '/app/x', never '/apple';
 * - the longest prefix wins; at equal length a route for this host beats an any-host route; at full
 *   equality the earlier route in the config wins;
 * - hosts compare case-insensitively, without port and without a trailing root dot
 *   ('CRM.example.com:443' and 'crm.example.com.' are 'crm.example.com'); no wildcards;
 * - prefixes compare on matchKey (path.ts): ASCII case and trailing dots of segments folded, as
 *   case-insensitive or Windows upstreams read them, so '/Admin/x' and '/admin./x' are under
 *   '/admin' (review finding: '/Admin/secret' reached a case-insensitive upstream through an
 *   `auth: none` '/' route). The path is forwarded as written, never folded;
 * - when the literal spelling (case and dots as written) would pick ANOTHER route than the folded
 *   one ('/PUBLIC/x' with routes '/' and '/public' reads as '/' on a case-sensitive upstream and as
 *   '/public' on an insensitive one), the request is refused (AmbiguousRoute, 400): the gateway
 *   cannot know which the upstream will serve, and either choice could be the looser policy;
 * - publicPaths compare literally (case-sensitive, dots as written): the stricter reading.
 */
import type { RouteConfig } from '../config/schema.js';
import { matchKey, normalizePath } from './path.js';

export interface CompiledRoute {
  readonly config: RouteConfig;
  readonly name: string;
  /** The configured pathPrefix, normalized. */
  readonly prefix: string;
  /** Normalized host (see normalizeHost), or null for any host. */
  readonly host: string | null;
  /** Where requests go, split once: the proxy hop needs origin, Host and base path apart. */
  readonly upstream: UpstreamTarget;
}

export interface UpstreamTarget {
  /** `http(s)://host[:port]`. */
  readonly origin: string;
  /** The Host header the upstream receives (host[:port] of its URL). */
  readonly host: string;
  /** The upstream URL's own path without trailing slashes ('' for none): prefixed to every request path. */
  readonly basePath: string;
}

function upstreamTarget(upstream: string): UpstreamTarget {
  const url = new URL(upstream);
  return Object.freeze({ origin: url.origin, host: url.host, basePath: url.pathname.replace(/\/+$/, '') });
}

export interface RouteTable {
  match(host: string, path: string): CompiledRoute | null;
  readonly routes: readonly CompiledRoute[];
}

/** The literal and the folded spelling of a path belong to different routes (see the module comment). */
export class AmbiguousRoute extends Error {
  constructor(
    readonly literal: string,
    readonly folded: string,
  ) {
    super(`the path's spelling is ambiguous: it is under route '${literal}' as written, under route '${folded}' ignoring case and trailing dots`);
    this.name = 'AmbiguousRoute';
  }
}

/** A configured prefix or public path that cannot be normalized; config validation should catch it first. */
export class RouteCompileError extends Error {
  constructor(
    readonly route: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`route '${route}': ${field}: ${reason}`);
    this.name = 'RouteCompileError';
  }
}

/**
 * 'CRM.Example.com:8443' -> 'crm.example.com', '[::1]:80' -> '[::1]', 'crm.example.com.' ->
 * 'crm.example.com'. The port is dropped: routing is by name; the listener decides the port.
 */
export function normalizeHost(host: string | undefined | null): string {
  if (!host) return '';
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end === -1 ? h : h.slice(0, end + 1);
  } else {
    const colon = h.indexOf(':');
    if (colon !== -1) h = h.slice(0, colon);
  }
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** The prefix without its trailing slash ('' for the root): what segment-aware comparison needs. */
const stem = (prefix: string): string => (prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);

/** Segment-aware: stem '/app' covers '/app' and '/app/...'; stem '' covers every path. */
const underStem = (path: string, s: string): boolean =>
  path === s || (path.startsWith(s) && path.charCodeAt(s.length) === 0x2f);

function normalizedOrThrow(route: string, field: string, value: string): string {
  const r = normalizePath(value);
  if (!r.ok) throw new RouteCompileError(route, field, r.reason);
  return r.path;
}

interface Entry {
  route: CompiledRoute;
  /** The prefix's stem as configured (normalized), compared with the literal path. */
  stem: string;
  /** matchKey of the stem, compared with matchKey(path). */
  key: string;
  index: number;
}

/** Most specific first: longest stem, then host-specific, then config order. */
function bySpecificity(length: (e: Entry) => number) {
  return (a: Entry, b: Entry) =>
    length(b) - length(a) || Number(b.route.host !== null) - Number(a.route.host !== null) || a.index - b.index;
}

function firstUnder(entries: readonly Entry[], host: string, path: string, stemOf: (e: Entry) => string): CompiledRoute | null {
  for (const e of entries) {
    if (e.route.host !== null && e.route.host !== host) continue;
    if (underStem(path, stemOf(e))) return e.route;
  }
  return null;
}

export function compileRoutes(routes: readonly RouteConfig[]): RouteTable {
  const compiled: CompiledRoute[] = routes.map((config, i) =>
    Object.freeze({
      config,
      name: config.name,
      prefix: normalizedOrThrow(config.name, `routes[${i}].match.pathPrefix`, config.match.pathPrefix || '/'),
      host: config.match.host ? normalizeHost(config.match.host) : null,
      upstream: upstreamTarget(config.upstream),
    }),
  );
  compiled.forEach((route, i) => publicPathsOf(route, i));
  const entries: Entry[] = compiled.map((route, index) => {
    const s = stem(route.prefix);
    return { route, stem: s, key: stem(matchKey(s || '/')), index };
  });
  const literal = [...entries].sort(bySpecificity((e) => e.stem.length));
  const folded = [...entries].sort(bySpecificity((e) => e.key.length));
  // Typical configs write prefixes in lower case without trailing dots: then a path that folds to
  // itself needs one pass, as the literal and folded readings cannot differ.
  const prefixesFolded = entries.every((e) => e.key === e.stem);
  return {
    routes: Object.freeze(compiled),
    /** The route owning (host, normalized path); null for none; throws AmbiguousRoute (module comment). */
    match(host: string, path: string): CompiledRoute | null {
      const h = normalizeHost(host);
      const key = matchKey(path);
      const byKey = firstUnder(folded, h, key, (e) => e.key);
      if (prefixesFolded && key === path) return byKey;
      const asWritten = firstUnder(literal, h, path, (e) => e.stem);
      if (asWritten !== null && asWritten !== byKey) throw new AmbiguousRoute(asWritten.name, byKey?.name ?? '(none)');
      return byKey;
    },
  };
}

const publicPathCache = new WeakMap<RouteConfig, readonly string[]>();

function publicPathsOf(route: CompiledRoute, index?: number): readonly string[] {
  let cached = publicPathCache.get(route.config);
  if (!cached) {
    cached = route.config.publicPaths.map((p, j) =>
      normalizedOrThrow(route.name, `routes[${index ?? '?'}].publicPaths[${j}]`, p),
    );
    publicPathCache.set(route.config, cached);
  }
  return cached;
}

/**
 * true when path (normalized) lies under one of route.config.publicPaths, segment-aware:
 * '/static/' covers '/static/' and '/static/x' (not '/static' itself: the directory form was asked
 * for); '/favicon.ico' covers itself and its subtree, never '/favicon.icon'.
 */
export function isPublicPath(route: CompiledRoute, path: string): boolean {
  for (const p of publicPathsOf(route)) {
    if (p.endsWith('/') ? path.startsWith(p) : underStem(path, p)) return true;
  }
  return false;
}
