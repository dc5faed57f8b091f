/**
 * The one catch-all handler that proxies to the routes' upstreams:
 * normalize the path -> match the route (the same result drives policy and the upstream URL) ->
 * authenticate and authorize -> forward (upstream + normalized path + '?' + raw query) with
 * strip-then-inject request headers through the undici hop of upstream-client.ts.
 *
 * Why one handler rather than one @fastify/http-proxy registration per route (DESIGN names
 * http-proxy): http-proxy matches with fastify's router on the raw path, so routing would not see
 * our normalized path and the route that was authorized could differ from the one proxied
 * (Pomerium CVE-2023-33189); fastify routes cannot be removed, so a reload could not swap the
 * table; and http-proxy's websocket support does not run our session/policy checks on the
 * upgrade. Why not reply-from, which http-proxy uses underneath: see upstream-client.ts (measured:
 * its stream plumbing cost more CPU per request than all of menshen's checks).
 */
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from './gateway.js';
import { resolveRoute } from './resolve.js';
import { admit, routeIdentityHeaders } from './access.js';
import { upstreamRequestHeaders, type ForwardedFacts } from './upstream-headers.js';
import { BadRequest, UpstreamFailed, sendGatewayError } from './errors.js';
import { failureStatus } from './upstream-client.js';
import { hasDotDotEdge } from './path.js';
import type { CompiledRoute } from './routes.js';

/** The upstream URL for a normalized path: the route's upstream (with its own base path, if any) + path. */
export function upstreamUrl(route: CompiledRoute, path: string): string {
  return route.upstream.origin + route.upstream.basePath + path;
}

/** The request body to stream upstream: fastify's pass-through parser hands over the raw stream (plugin.ts). */
function requestBody(req: FastifyRequest): Readable | null {
  const body = req.body as { pipe?: unknown } | undefined;
  return body !== undefined && body !== null && typeof body.pipe === 'function' ? (body as Readable) : null;
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
      const route = resolved.route;
      const headers = upstreamRequestHeaders(req.headers, {
        route,
        templateNames: gw.templateHeaderNames(),
        gatewayCookieNames: gw.cookies.names,
        forwarded,
        identity,
      });
      const body = requestBody(req);
      headers.host = route.upstream.host;
      if (body === null) {
        // No body is forwarded (GET/HEAD, or none sent): its framing headers would promise one.
        delete headers['content-length'];
        delete headers['transfer-encoding'];
      }
      gw.upstreams.forward(
        {
          origin: route.upstream.origin,
          path: route.upstream.basePath + resolved.path + (resolved.rawQuery ? `?${resolved.rawQuery}` : ''),
          method: req.method,
          headers,
          body,
        },
        req.raw,
        reply.raw,
        {
          ownHeaders: () => reply.getHeaders(),
          // From here the response is written raw; onResponse hooks (metrics, access log) still run.
          takeOver: () => reply.hijack(),
          onFailure: (error) => {
            void sendGatewayError(new UpstreamFailed(failureStatus(error), { cause: error }), req, reply, gw.errors);
          },
          onTruncated: (error) => {
            req.log.warn({ err: error.message, route: route.name }, 'upstream answer cut short');
          },
        },
      );
      // The answer is sent by the forward above (fastify waits for a returned reply).
      return reply;
    } catch (err) {
      return sendGatewayError(err, req, reply, gw.errors);
    }
  };
}
