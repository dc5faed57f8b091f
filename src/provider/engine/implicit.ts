/**
 * The implicit flow, `response_type=token` (RFC 6749 §4.2), for Tencent EIAM OAuth2 apps only
 * (protocols.md T1, 1442/62417) and only for clients whose `grants` list `implicit`. It is
 * discouraged: the access token passes through the browser, and OAuth 2.0 Security BCP §2.1.2 and
 * OAuth 2.1 drop it. No refresh token, no id token (RFC 6749 §4.2.2: no refresh token in implicit).
 *
 * Where the token goes: the fragment, not the query. EIAM's page shows
 * `redirect_uri?access_token=…&expires_in=7200&state=…`, but RFC 6749 §4.2.2 puts implicit
 * responses in the fragment, and for a reason this provider will not give up: a browser never sends
 * the fragment to the client's server, so the token stays out of its access logs, of proxies and of
 * Referer headers, while a query would hand a bearer token to all of them (OAuth 2.0 Multiple
 * Response Type Encoding Practices §2.1: `fragment` is the token response type's mode). The
 * clients this flow exists for are browser scripts, which read `location.hash` as easily as
 * `location.search`. Errors of an implicit request travel the same way (§4.2.2.1).
 */
import type { Client } from './clients.js';
import type { User } from './directory.js';
import type { Engine } from './engine.js';
import { ProviderError } from './errors.js';
import { checkResponseType, type AuthorizationRequest, type Params } from './authorize.js';
import type { SsoSession } from './sso-sessions.js';

/**
 * The response type an authorize request asks for. `token` only where the dialect allows the
 * implicit flow (EIAM) and the client lists it; everything else goes through the code rules, so
 * elsewhere `token` stays `unsupported_response_type` (EIAM: `invalid response_type`).
 */
export function responseTypeOf(client: Client, params: Params, implicitAllowed: boolean): 'code' | 'token' {
  if (implicitAllowed && params.response_type === 'token' && client.grants.has('implicit')) return 'token';
  checkResponseType(client, params);
  return 'code';
}

/** `redirect_uri#k=v&…` (RFC 6749 §4.2.2, application/x-www-form-urlencoded in the fragment). */
export function fragmentWith(redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  const fragment = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) fragment.set(k, v);
  url.hash = fragment.toString();
  return url.toString();
}

/**
 * Issues the access token of an implicit request under a live SSO session and returns the
 * redirect carrying it. The token is bound to the session (`sid`), so logout revokes it, and the
 * client is recorded for back-channel logout like a code flow client.
 */
export async function issueImplicit(engine: Engine, request: AuthorizationRequest, user: User, session: SsoSession): Promise<string> {
  const client = engine.clients.get(request.clientId);
  if (!client || !client.grants.has('implicit')) throw new ProviderError('unauthorized_client', 'client may not use the implicit flow');
  const [issued] = await Promise.all([
    engine.issueTokens({
      client,
      issuer: request.issuer,
      user,
      scope: request.scope,
      sid: session.sid,
      authTime: session.authTime,
      amr: session.amr,
      refresh: 'none',
      idToken: false,
    }),
    engine.sessions.addClient(session.sid, client.id, request.issuer),
  ]);
  const r = issued.response;
  return fragmentWith(request.redirectUri, {
    access_token: r.access_token,
    token_type: r.token_type,
    expires_in: String(r.expires_in),
    scope: r.scope,
    state: request.state,
  });
}
