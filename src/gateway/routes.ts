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
 * - paths compare case-sensitively (RFC 3986 §6.2.2.1).
 */
import type { RouteConfig } from '../config/schema.js';
import { normalizePath } from './path.js';

export interface CompiledRoute {
  readonly config: RouteConfig;
  readonly name: string;
  /** The configured pathPrefix, normalized. */
  readonly prefix: string;
  /** Normalized host (see normalizeHost), or null for any host. */
  readonly host: string | null;
}

export interface RouteTable {
  match(host: string, path: string): CompiledRoute | null;
  readonly routes: readonly CompiledRoute[];
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
  stem: string;
  index: number;
}

export function compileRoutes(routes: readonly RouteConfig[]): RouteTable {
  const compiled: CompiledRoute[] = routes.map((config, i) =>
    Object.freeze({
      config,
      name: config.name,
      prefix: normalizedOrThrow(config.name, `routes[${i}].match.pathPrefix`, config.match.pathPrefix || '/'),
      host: config.match.host ? normalizeHost(config.match.host) : null,
    }),
  );
  compiled.forEach((route, i) => publicPathsOf(route, i));
  // Most specific first: longest stem, then host-specific, then config order.
  const entries: Entry[] = compiled
    .map((route, index) => ({ route, stem: stem(route.prefix), index }))
    .sort(
      (a, b) =>
        b.stem.length - a.stem.length ||
        Number(b.route.host !== null) - Number(a.route.host !== null) ||
        a.index - b.index,
    );
  return {
    routes: Object.freeze(compiled),
    match(host: string, path: string): CompiledRoute | null {
      const h = normalizeHost(host);
      for (const e of entries) {
        if (e.route.host !== null && e.route.host !== h) continue;
        if (underStem(path, e.stem)) return e.route;
      }
      return null;
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
