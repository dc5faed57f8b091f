/**
 * The access decision for a resolved route (auth mode, then `allow`), and the identity headers
 * that go with an admitted request: the canonical set from headers.ts, the route's templates,
 * optionally the access token, and the signed X-Menshen-Assertion. Shared by the HTTP proxy,
 * websocket upgrades and forward-auth so all three decide the same way.
 */
import { authorize } from './policy.js';
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
  const verdict = authorize(resolved.route.config.allow, who.identity);
  if (!verdict.allow) throw new AccessDenied(verdict.reason);
  return who;
}

/**
 * Identity headers for a route (lower-cased names, so that assigning them over a lower-cased
 * request header object can never leave a differently-cased client copy beside them).
 */
export async function routeIdentityHeaders(assertions: Assertions, route: CompiledRoute | null, who: Authenticated): Promise<Record<string, string>> {
  const cfg = route?.config;
  const raw = identityHeaders(who.identity, cfg?.headers ?? {}, cfg?.passAccessToken ? who.accessToken : undefined);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) out[k.toLowerCase()] = v;
  if (route) out[ASSERTION_HEADER] = await assertions.assertion(who.cacheKey, route.name, who.identity);
  return out;
}
