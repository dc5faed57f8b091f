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
 * Used by the HTTP proxy (proxy.ts) and the websocket upgrade alike.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { foldHeaderName, hopByHopNames, identityHeaderMatcher, isForwardingHeader, stripCookies } from './headers.js';
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

/**
 * Identity-header tests by route table (its templateNames array) and passAccessToken: compiled
 * once per table instead of once per request.
 */
const matchers = new WeakMap<readonly string[], { plain: (folded: string) => boolean; withAuthorization: (folded: string) => boolean }>();

function identityMatcher(templateNames: readonly string[], passAccessToken: boolean): (folded: string) => boolean {
  let m = matchers.get(templateNames);
  if (!m) {
    m = {
      plain: identityHeaderMatcher([...templateNames, ASSERTION_HEADER]),
      withAuthorization: identityHeaderMatcher([...templateNames, ASSERTION_HEADER, 'authorization']),
    };
    matchers.set(templateNames, m);
  }
  return passAccessToken ? m.withAuthorization : m.plain;
}

export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, i: UpstreamHeaderInputs): IncomingHttpHeaders {
  const { route, forwarded, identity } = i;
  // On passAccessToken routes Authorization belongs to the gateway: a client's own never passes.
  const isIdentity = identityMatcher(i.templateNames, route.config.passAccessToken);
  const hopByHop = hopByHopNames(incoming.connection);
  // One pass, building the object once (deleting keys would turn it into a slow dictionary).
  const headers: IncomingHttpHeaders = {};
  for (const name of Object.keys(incoming)) {
    if (hopByHop.has(name)) continue;
    const folded = foldHeaderName(name);
    if (isIdentity(folded) || isForwardingHeader(folded)) continue;
    if (name === 'cookie') {
      const cookie = stripCookies(incoming.cookie, i.gatewayCookieNames);
      if (cookie) headers.cookie = cookie;
      continue;
    }
    headers[name] = incoming[name];
  }
  headers['x-forwarded-for'] = forwarded.chain.join(', ');
  headers['x-forwarded-proto'] = forwarded.proto;
  headers['x-forwarded-host'] = forwarded.host;
  Object.assign(headers, identity);
  return headers;
}
