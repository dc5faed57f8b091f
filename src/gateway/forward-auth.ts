/**
 * `/_menshen/auth`: forward-auth for nginx `auth_request` and Traefik `ForwardAuth`
 * (gateway-lessons #12, §5.6). The answer is the access decision only; the ingress proxies.
 *
 *   200  signed in and allowed; the identity travels as RESPONSE headers (X-Auth-Request-*,
 *        X-Forwarded-User/-Email/-Groups/-Preferred-Username, the route's templates, and
 *        X-Menshen-Assertion when a route matched) for the ingress to copy upstream
 *   401  no session (JSON body)
 *   403  signed in, not allowed; or the forwarded URI has no route (or is the gateway's own);
 *        or X-Forwarded-* / X-Original-URI came from a peer server.trustProxy does not trust
 *   400  an X-Forwarded-Uri that cannot be normalized (never a 2xx: Authelia GHSA-68wm-pfjf-wqp6);
 *        X-Forwarded-Uri, X-Original-URI, X-Original-URL (and its host vs X-Forwarded-Host) disagreeing
 *   503  the session store or the issuer is down (fail closed)
 *
 * Which route: X-Forwarded-Host (its last entry, trust.ts) and X-Forwarded-Uri name the request
 * being authorized, and the route found for them decides (auth mode, publicPaths, `allow`). Only
 * a proxy trusted by server.trustProxy may send them: from anyone else they are refused with 403
 * and a warning, never ignored, since ignoring them meant approving any signed-in user for a
 * route the gateway never looked at (oauth2-proxy GHSA-7x63-xv5r-3p2x; a mis-set trustProxy
 * shows up at once instead of failing open). A forwarded URI without a route is refused too (an
 * unrouted path has no policy to apply). Without X-Forwarded-Uri only the session is checked.
 * `?allowed_groups=`, `?allowed_emails=`, `?allowed_email_domains=` add constraints either way
 * (policy.ts authorizeQuery).
 *
 * Redirects: nginx turns anything but 2xx/401/403 into a 500, so the answer is 401, never a
 * redirect, unless the caller is Traefik: a trusted proxy sending X-Forwarded-Method and
 * X-Forwarded-Uri (Traefik always sets both; nginx's auth_request does not send
 * X-Forwarded-Method unless configured to) for a browser navigation. Traefik relays a non-2xx
 * answer to the browser, so that one gets a 302 to the issuer and comes back to the forwarded URI.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from './gateway.js';
import { authorizeQuery } from './policy.js';
import { admit, routeIdentityHeaders } from './access.js';
import { resolveRoute, type Resolved } from './resolve.js';
import { normalizeHost } from './routes.js';
import { AccessDenied, BadRequest, LoginRequired, NotFound, isBrowserRequest, sendGatewayError } from './errors.js';
import type { Authenticated } from './authenticate.js';

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Headers through which a proxy tells forward-auth what it is asking about (nginx sets X-Original-URI). */
function carriesForwardedRequest(headers: FastifyRequest['headers']): boolean {
  return Object.keys(headers).some((name) => name.startsWith('x-forwarded-') || name === 'x-original-uri' || name === 'x-original-url');
}

/** The path-and-query of an absolute URL exactly as sent (no normalization: resolve.ts does that). */
function rawPathOf(url: string): string {
  const authorityAndRest = url.slice(url.indexOf('//') + 2);
  const at = authorityAndRest.search(/[/?#]/);
  if (at === -1) return '/';
  const rest = authorityAndRest.slice(at);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/**
 * What the proxy asks about, from a trusted proxy only: Traefik sends X-Forwarded-Uri (+ -Host);
 * nginx `auth_request` setups send X-Original-URI (a path) or X-Original-URL (an absolute URL,
 * ingress-nginx's default, whose host names the route's host).
 *
 * A proxy overwrites the headers it sets and relays the client's others: ingress-nginx sets
 * X-Original-URL but passes a client's X-Forwarded-Uri and X-Forwarded-Host through; Traefik the
 * reverse. Preferring any one of them lets a client pick the route that decides (a public path's,
 * another host's: oauth2-proxy GHSA-7x63-xv5r-3p2x). So every one present must name the same
 * request, or the check is refused (400, never a 2xx).
 */
function originalRequest(req: FastifyRequest, forwardedHost: string | undefined): { uri: string; host?: string } | undefined {
  const uris: Array<[string, string]> = [];
  const forwardedUri = header(req, 'x-forwarded-uri');
  if (forwardedUri !== undefined) uris.push(['X-Forwarded-Uri', forwardedUri]);
  const originalUri = header(req, 'x-original-uri');
  if (originalUri !== undefined) uris.push(['X-Original-URI', originalUri]);
  let urlHost: string | undefined;
  const url = header(req, 'x-original-url');
  if (url !== undefined) {
    let path = url; // not an http(s) URL: refused as a path by normalization (400)
    if (!url.startsWith('/')) {
      try {
        const u = new URL(url);
        if (u.protocol === 'http:' || u.protocol === 'https:') {
          path = rawPathOf(url);
          urlHost = u.host;
        }
      } catch {
        // not a URL: normalization refuses it (400), never a 2xx
      }
    }
    uris.push(['X-Original-URL', path]);
  }
  if (uris.length === 0) return undefined;
  const [first] = uris;
  const other = uris.find(([, v]) => v !== first![1]);
  if (other) throw new BadRequest(`${first![0]} and ${other[0]} name different requests`);
  if (urlHost !== undefined && forwardedHost !== undefined && normalizeHost(urlHost) !== normalizeHost(forwardedHost))
    throw new BadRequest('X-Original-URL and X-Forwarded-Host name different hosts');
  return urlHost !== undefined ? { uri: first![1], host: urlHost } : { uri: first![1] };
}

export function forwardAuthHandler(gw: Gateway) {
  return async function forwardAuth(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    reply.header('cache-control', 'no-store');
    const peer = req.socket.remoteAddress;
    const trusted = gw.trust.isTrusted(peer);
    let forwardedUri: string | undefined;
    let traefik = false;
    try {
      if (!trusted && carriesForwardedRequest(req.headers)) {
        req.log.warn({ peer }, 'forward-auth: X-Forwarded-* from a peer not in server.trustProxy: refused (403)');
        throw new AccessDenied('forwarded request headers from an untrusted proxy (see server.trustProxy)');
      }
      const original = trusted ? originalRequest(req, gw.trust.forwarded(peer, req.headers['x-forwarded-host'])) : undefined;
      forwardedUri = original?.uri;
      traefik = trusted && forwardedUri !== undefined && header(req, 'x-forwarded-method') !== undefined;
      let resolved: Resolved | null = null;
      if (forwardedUri !== undefined) {
        try {
          resolved = resolveRoute(gw.routes(), gw.reserved, original?.host ?? gw.trust.requestHost(peer, req.headers), forwardedUri);
        } catch (err) {
          if (err instanceof NotFound) throw new AccessDenied(`X-Forwarded-Uri: ${err.message}`);
          throw err instanceof BadRequest ? new BadRequest(`X-Forwarded-Uri: ${err.message}`) : err;
        }
      }
      let who: Authenticated | null;
      if (resolved) {
        req.metricsRoute = resolved.route.name;
        who = await admit(gw.auth, resolved, req.headers);
        if (!who) return reply.code(200).send(); // auth none / publicPaths / optional and anonymous
      } else {
        who = await gw.auth.authenticate(req.headers);
        if (!who) throw new LoginRequired(forwardedUri ?? '/');
      }
      req.userSub = who.identity.sub; // the access log's `sub`
      const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
      const verdict = authorizeQuery(query, who.identity);
      if (!verdict.allow) throw new AccessDenied(verdict.reason);
      const headers = await routeIdentityHeaders(gw.assertions, resolved?.route ?? null, who);
      return reply.code(200).headers(headers).send();
    } catch (err) {
      if (err instanceof LoginRequired) {
        if (traefik && isBrowserRequest(req.headers)) return sendGatewayError(err, req, reply, gw.errors);
        return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', error_description: 'login required' });
      }
      return sendGatewayError(err, req, reply, gw.errors);
    }
  };
}
