/**
 * The access decision for a resolved route (auth mode, then `allow`), and the identity headers
 * that go with an admitted request: the canonical set from headers.ts, the route's templates,
 * optionally the access token, and the signed X-Menshen-Assertion. Shared by the HTTP proxy,
 * websocket upgrades and forward-auth so all three decide the same way.
 */
import { authorize, type Identity } from './policy.js';
import { identityHeaders } from './headers.js';
import { AccessDenied, LoginRequired } from './errors.js';
import type { Authenticated, Authenticator } from './authenticate.js';
import type { Assertions } from './assertions.js';
import { returnPath, type Resolved } from './resolve.js';
import type { CompiledRoute } from './routes.js';

export const ASSERTION_HEADER = 'x-menshen-assertion';

/** null = proceed anonymously (auth none/optional); throws LoginRequired or AccessDenied. */
export async function admit(
  auth: Authenticator,
  resolved: Resolved,
  headers: { cookie?: string | undefined; authorization?: string | undefined },
): Promise<Authenticated | null> {
  if (resolved.mode === 'none') return null;
  const who = await auth.authenticate(headers);
  if (!who) {
    if (resolved.mode === 'required') throw new LoginRequired(returnPath(resolved));
    return null;
  }
  const verdict = authorize(resolved.route.config.allow, who.identity, auth.policy);
  if (!verdict.allow) throw new AccessDenied(verdict.reason);
  return who;
}

/** Identity headers rendered for one route (and access token, on passAccessToken routes). */
interface Rendered {
  route: CompiledRoute | null;
  accessToken: string | undefined;
  headers: Readonly<Record<string, string>>;
}

/**
 * Rendered headers by identity object. A returning session has the same frozen Identity on every
 * request (identityFromClaims keeps one per claims object, and the session cache keeps the claims
 * object), so its headers are rendered once per route instead of once per request. A reload
 * compiles new route objects; older renderings then go, oldest first, past this many per identity.
 */
const MAX_RENDERED_PER_IDENTITY = 8;
const rendered = new WeakMap<Identity, Rendered[]>();

function renderedHeaders(route: CompiledRoute | null, who: Authenticated): Readonly<Record<string, string>> {
  const cfg = route?.config;
  const accessToken = cfg?.passAccessToken ? who.accessToken : undefined;
  let list = rendered.get(who.identity);
  const hit = list?.find((r) => r.route === route && r.accessToken === accessToken);
  if (hit) return hit.headers;
  const raw = identityHeaders(who.identity, cfg?.headers ?? {}, accessToken);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) headers[k.toLowerCase()] = v;
  if (!list) rendered.set(who.identity, (list = []));
  if (list.length >= MAX_RENDERED_PER_IDENTITY) list.shift();
  list.push({ route, accessToken, headers: Object.freeze(headers) });
  return headers;
}

/**
 * Identity headers for a route (lower-cased names, so that assigning them over a lower-cased
 * request header object can never leave a differently-cased client copy beside them).
 */
export async function routeIdentityHeaders(assertions: Assertions, route: CompiledRoute | null, who: Authenticated): Promise<Record<string, string>> {
  const out: Record<string, string> = { ...renderedHeaders(route, who) };
  if (route) out[ASSERTION_HEADER] = await assertions.assertion(who.cacheKey, route.name, who.identity);
  return out;
}
