/**
 * The request headers an upstream receives, strip-then-inject (STYLE habit 7, gateway-lessons §5.4):
 *  1. every client-supplied identity header is removed in every spelling (case, `_`, `.`), plus
 *     the template header names of EVERY route (an app behind two routes may trust a header that
 *     only the other route sets) and the assertion header;
 *  2. the gateway's own cookies are cut out of Cookie (oauth2-proxy #644: they are the gateway's,
 *     and split session cookies pushed upstreams past their header limits);
 *  3. hop-by-hop headers (and those Connection names) and every client spelling of a forwarding
 *     header (X-Forwarded-*, Forwarded, X-Real-IP, X-Original-URL ...) are removed; then
 *     X-Forwarded-For/-Proto/-Host are set from what the trusted chain says (never the client's
 *     unverified word);
 *  4. the identity of an admitted request is injected.
 * Used by the HTTP proxy (reply-from's rewriteRequestHeaders) and the websocket upgrade alike.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { foldHeaderName, hopByHopNames, isForwardingHeader, stripCookies, stripIdentityHeaders } from './headers.js';
import { ASSERTION_HEADER } from './access.js';
import type { CompiledRoute } from './routes.js';

export interface ForwardedFacts {
  /** Client first, the immediate peer last. */
  chain: string[];
  proto: string;
  host: string;
}

export interface UpstreamHeaderInputs {
  route: CompiledRoute;
  /** Template header names of every route in the table. */
  templateNames: readonly string[];
  gatewayCookieNames: readonly string[];
  forwarded: ForwardedFacts;
  /** The identity headers of an admitted request (lower-case names), or {}. */
  identity: Record<string, string>;
}

export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, i: UpstreamHeaderInputs): IncomingHttpHeaders {
  const { route, forwarded, identity } = i;
  // On passAccessToken routes Authorization belongs to the gateway: a client's own never passes.
  const extra = [...i.templateNames, ASSERTION_HEADER, ...(route.config.passAccessToken ? ['authorization'] : [])];
  const headers = stripIdentityHeaders({ ...incoming }, extra) as IncomingHttpHeaders;
  const hopByHop = hopByHopNames(incoming.connection);
  for (const name of Object.keys(headers)) {
    if (hopByHop.has(name) || isForwardingHeader(foldHeaderName(name))) delete headers[name];
  }
  const cookie = stripCookies(headers.cookie, i.gatewayCookieNames);
  if (cookie) headers.cookie = cookie;
  else delete headers.cookie;
  headers['x-forwarded-for'] = forwarded.chain.join(', ');
  headers['x-forwarded-proto'] = forwarded.proto;
  headers['x-forwarded-host'] = forwarded.host;
  Object.assign(headers, identity);
  return headers;
}
