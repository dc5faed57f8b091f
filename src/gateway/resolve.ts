/**
 * From a request's host and raw URL to the one route decision that policy AND proxying use
 * (gateway-lessons §5.5; Pomerium CVE-2023-33189: never match a second time). The path is
 * normalized once; the normalized path is matched, authorized and forwarded, with the raw query
 * appended unchanged and never consulted by path rules.
 */
import { normalizePath, splitUrl } from './path.js';
import { AmbiguousRoute, isPublicPath, normalizeHost, type CompiledRoute, type RouteTable } from './routes.js';
import { BadRequest, NotFound } from './errors.js';

export type AuthMode = 'required' | 'optional' | 'none';

export interface Resolved {
  route: CompiledRoute;
  /** Normalized path: matched, authorized and sent upstream. */
  path: string;
  /** The raw query without '?', forwarded as received ('' when none). */
  rawQuery: string;
  /** The route's auth mode, `none` on its publicPaths. */
  mode: AuthMode;
}

/** Paths the gateway itself owns, never proxied: /_menshen/* and the built-in provider's mount. */
export interface ReservedPaths {
  gatewayPrefix: string;
  /** The provider mount ('' = the provider serves root paths) or null without a provider. */
  providerMount: string | null;
  /** Root paths the provider serves when mounted at '' (see config/validate.ts). */
  providerRootPaths: string[];
  /** provider.hosts, normalized (normalizeHost): when set, the provider owns its mount only on these hosts. */
  providerHosts: string[];
}

const under = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}/`);

export function isReserved(reserved: ReservedPaths, host: string, path: string): boolean {
  if (under(path, reserved.gatewayPrefix)) return true;
  if (reserved.providerMount === null) return false;
  if (reserved.providerHosts.length > 0 && !reserved.providerHosts.includes(host)) return false;
  if (reserved.providerMount === '') return reserved.providerRootPaths.some((p) => under(path, p));
  return under(path, reserved.providerMount);
}

/** Normalizes and matches; throws BadRequest for a path that cannot be normalized, NotFound for no route. */
export function resolveRoute(table: RouteTable, reserved: ReservedPaths, host: string, rawUrl: string): Resolved {
  const { rawPath, rawQuery } = splitUrl(rawUrl);
  const normalized = normalizePath(rawPath);
  if (!normalized.ok) throw new BadRequest(`invalid path: ${normalized.reason}`);
  const path = normalized.path;
  // 'GW.example.com:8443', '[::1]:80': by name, as route hosts are compiled (routes.ts normalizeHost).
  const hostname = normalizeHost(host);
  // A spelling of a gateway or provider path that fastify's router did not take (e.g.
  // `//_menshen/userinfo`, `/%5fmenshen/auth`, `/idp/x/../token`) must not reach an upstream either.
  if (isReserved(reserved, hostname, path)) throw new NotFound('no such path');
  let route: CompiledRoute | null;
  try {
    route = table.match(hostname, path);
  } catch (err) {
    // The answer does not name the routes (config detail for anonymous clients); the log does.
    if (err instanceof AmbiguousRoute) throw new BadRequest("the path's spelling is ambiguous: as written and ignoring case or trailing dots it is under different routes", { cause: err });
    throw err;
  }
  if (!route) throw new NotFound('no route for this path');
  const mode: AuthMode = route.config.auth === 'none' || isPublicPath(route, path) ? 'none' : route.config.auth;
  return { route, path, rawQuery, mode };
}

/** `path?query` as the browser should come back to it after login. */
export function returnPath(r: Pick<Resolved, 'path' | 'rawQuery'>): string {
  return r.rawQuery ? `${r.path}?${r.rawQuery}` : r.path;
}
