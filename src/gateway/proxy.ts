/**
 * The one catch-all handler that proxies to the routes' upstreams:
 * normalize the path -> match the route (the same result drives policy and the upstream URL) ->
 * authenticate and authorize -> reply.from(upstream + normalized path + '?' + raw query) with
 * strip-then-inject request headers.
 *
 * Why one handler with @fastify/reply-from rather than one @fastify/http-proxy registration per
 * route (DESIGN names http-proxy): http-proxy matches with fastify's router on the raw path, so
 * routing would not see our normalized path and the route that was authorized could differ from
 * the one proxied (Pomerium CVE-2023-33189); fastify routes cannot be removed, so a reload could
 * not swap the table; and http-proxy's websocket support does not run our session/policy checks
 * on the upgrade. reply-from is what http-proxy uses underneath (undici), so nothing is lost.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from './gateway.js';
import { resolveRoute } from './resolve.js';
import { admit, routeIdentityHeaders } from './access.js';
import { upstreamRequestHeaders, type ForwardedFacts } from './upstream-headers.js';
import { stripHopByHopResponseHeaders } from './headers.js';
import { BadRequest, sendGatewayError, upstreamError } from './errors.js';
import { hasDotDotEdge } from './path.js';
import type { CompiledRoute } from './routes.js';

/** The upstream URL for a normalized path: the route's upstream (with its own base path, if any) + path. */
export function upstreamUrl(route: CompiledRoute, path: string): string {
  return route.config.upstream.replace(/\/+$/, '') + path;
}

export function forwardedFacts(gw: Gateway, req: FastifyRequest, host: string): ForwardedFacts {
  const peer = req.socket.remoteAddress;
  const encrypted = 'encrypted' in req.socket && req.socket.encrypted === true;
  return { chain: gw.trust.chain(peer, req.headers['x-forwarded-for']), proto: gw.trust.requestProto(peer, req.headers, encrypted), host };
}

export function proxyHandler(gw: Gateway) {
  return async function proxy(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    try {
      const host = gw.trust.requestHost(req.socket.remoteAddress, req.headers);
      const resolved = resolveRoute(gw.routes(), gw.reserved, host, req.url);
      req.metricsRoute = resolved.route.name;
      if (hasDotDotEdge(resolved.path)) throw new BadRequest("path segments that begin or end with '..' cannot be proxied");
      const who = await admit(gw.auth, resolved, req.headers);
      if (who) req.userSub = who.identity.sub; // the access log's `sub`
      if (who?.renewCookie) reply.header('set-cookie', who.renewCookie);
      const identity = who ? await routeIdentityHeaders(gw.assertions, resolved.route, who) : {};
      const forwarded = forwardedFacts(gw, req, host);
      return reply.from(upstreamUrl(resolved.route, resolved.path), {
        queryString: () => resolved.rawQuery,
        // Never retry: reply-from re-sends a GET answered 503 up to 10 times without reading the
        // discarded bodies, pinning pool connections until the upstream hangs. An upstream's 503
        // is its answer, passed on. (maxRetriesOn503: 0 does not help: reply-from reads 0 as 10.)
        retryDelay: () => null,
        rewriteHeaders: (headers) => stripHopByHopResponseHeaders(headers),
        rewriteRequestHeaders: (_req, headers) =>
          upstreamRequestHeaders(headers as IncomingHttpHeaders, {
            route: resolved.route,
            templateNames: gw.templateHeaderNames(),
            gatewayCookieNames: gw.cookies.names,
            forwarded,
            identity,
          }),
        onError: (_reply, { error }) => {
          void sendGatewayError(upstreamError(error), req, reply, gw.errors);
        },
      });
    } catch (err) {
      return sendGatewayError(err, req, reply, gw.errors);
    }
  };
}
