/**
 * The authorization endpoint's rules, wire-neutral (RFC 6749 §4.1, OIDC Core §3.1.2, RFC 7636,
 * protocols.md T1 and §5.2). Two stages, because their errors travel differently:
 *
 * 1. `resolveClientAndRedirect`: client_id and redirect_uri. Until both are known good nothing may
 *    be redirected (RFC 6749 §4.1.2.1): its errors are shown to the user (400), never redirected.
 * 2. `parseAuthorizationRequest`: everything else; its errors go back to the redirect URI.
 *
 * Then `decide` picks: a code now (a live SSO session satisfies the request), the login page, or
 * `login_required` for prompt=none.
 */
import type { Client, ClientRegistry } from './clients.js';
import { ProviderError, invalid, missing } from './errors.js';
import { checkChallenge, type PkceMethod } from './pkce.js';
import { grantableScopes, parseScope } from './scopes.js';
import type { SsoSession } from './sso-sessions.js';

export type Params = Readonly<Record<string, string | undefined>>;

/** How a dialect family differs at authorize and token (protocols.md §1 "quirks"). */
export interface DialectProfile {
  /** `iss` of tokens issued through this family, and its discovery `issuer`. */
  readonly issuer: string;
  readonly pkceMethods: readonly PkceMethod[];
  /** CIAM: redirect_uri always required; EIAM: optional when exactly one is registered. */
  readonly redirectUriRequired: boolean;
  /** EIAM: a confidential client may omit its secret at the token endpoint when it sends code_verifier. */
  readonly secretlessWithPkce: boolean;
  /** EIAM's password grant returns no refresh token (1442/62423). */
  readonly passwordGrantRefresh: boolean;
  /**
   * A dialect whose codes only its own token endpoint redeems (QingCloud `sso`); absent: the
   * Tencent families, which share codes with each other but not with such a dialect.
   */
  readonly dialect?: string;
}

export interface AuthorizationRequest {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly redirectUriSent: boolean;
  readonly scope: readonly string[];
  readonly state?: string;
  readonly nonce?: string;
  readonly pkce?: { readonly challenge: string; readonly method: PkceMethod };
  readonly prompt: readonly string[];
  /** seconds (OIDC max_age) */
  readonly maxAge?: number;
  readonly authSourceId?: string;
  readonly uiLocales?: string;
  readonly loginHint?: string;
  /** the issuer (family) the request came through */
  readonly issuer: string;
  /** DialectProfile.dialect of the authorize endpoint, recorded with the code */
  readonly dialect?: string;
  /** `token`: EIAM's implicit flow (engine/implicit.ts) answers with an access token; absent: a code */
  readonly responseType?: 'token';
}

const MAX_PARAM = 2048;

function bounded(params: Params, name: string, max = MAX_PARAM): string | undefined {
  const v = params[name];
  if (v === undefined || v === '') return undefined;
  if (v.length > max) throw invalid(name, `${name} too long`);
  return v;
}

/** Stage 1: the client and the redirect URI. Errors here must not be redirected. */
export function resolveClientAndRedirect(
  clients: ClientRegistry,
  profile: DialectProfile,
  params: Params,
): { client: Client; redirectUri: string; redirectUriSent: boolean } {
  const clientId = bounded(params, 'client_id', 256);
  if (!clientId) throw missing('client_id');
  const client = clients.get(clientId);
  if (!client) throw new ProviderError('invalid_client', 'unknown client', { param: 'client_id' });
  const sent = bounded(params, 'redirect_uri');
  if (sent === undefined) {
    if (profile.redirectUriRequired || client.redirectUris.length !== 1) throw missing('redirect_uri');
    return { client, redirectUri: client.redirectUris[0]!, redirectUriSent: false };
  }
  if (!clients.isRedirectUriRegistered(client, sent)) throw invalid('redirect_uri', 'redirect_uri is not registered for this client');
  return { client, redirectUri: sent, redirectUriSent: true };
}

/** Stage 1b (not redirected either: CIAM answers a bare 400, EIAM a 400 JSON, T1). */
export function checkResponseType(client: Client, params: Params): void {
  const rt = bounded(params, 'response_type', 64);
  if (!rt) throw missing('response_type');
  if (rt !== 'code') throw new ProviderError('unsupported_response_type', 'invalid response_type', { param: 'response_type' });
  if (!client.grants.has('authorization_code'))
    throw new ProviderError('unauthorized_client', 'client may not use the authorization code flow');
}

/** Stage 2: the rest of the request; errors are redirected to the client. */
export function parseAuthorizationRequest(
  client: Client,
  redirect: { redirectUri: string; redirectUriSent: boolean },
  profile: DialectProfile,
  params: Params,
  responseType: 'code' | 'token' = 'code',
): AuthorizationRequest {
  const implicit = responseType === 'token';
  const requested = parseScope(bounded(params, 'scope'));
  let scope: string[];
  if (implicit) {
    // EIAM OAuth2 apps (1442/62417) need no openid; absent, `openid` as the password grant does,
    // so the token reaches userinfo.
    scope = grantableScopes(client, requested.length ? requested : ['openid']);
    if (!scope.length) throw new ProviderError('invalid_scope', 'no requested scope is allowed', { param: 'scope' });
  } else {
    // CIAM: scope is required and fixed `openid`; EIAM: must start with openid for OIDC apps (T1).
    if (!requested.includes('openid')) throw new ProviderError('invalid_scope', 'scope must include openid', { param: 'scope' });
    scope = grantableScopes(client, requested);
  }

  let pkce: AuthorizationRequest['pkce'];
  const challenge = bounded(params, 'code_challenge', 256);
  if (implicit) {
    // No code, so nothing for a verifier to prove; a challenge here means a confused client.
    if (challenge !== undefined || params.code_challenge_method)
      throw invalid('code_challenge', 'code_challenge is not used with response_type=token');
    // Tokens only ever travel in the fragment (engine/implicit.ts).
    const mode = bounded(params, 'response_mode', 32);
    if (mode !== undefined && mode !== 'fragment') throw invalid('response_mode', 'response_type=token answers in the fragment only');
  } else if (challenge !== undefined) {
    const method = checkChallenge(challenge, bounded(params, 'code_challenge_method', 16), profile.pkceMethods);
    pkce = { challenge, method };
  } else if (params.code_challenge_method) {
    throw missing('code_challenge');
  } else if (client.isPublic) {
    // Public clients have no secret: PKCE is their only proof at the token endpoint (§5.2).
    throw new ProviderError('invalid_parameter', 'code_challenge required for public clients', { param: 'code_challenge' });
  }

  const prompt = parseScope(bounded(params, 'prompt', 64));
  if (prompt.includes('none') && prompt.length > 1) throw invalid('prompt', 'prompt=none cannot be combined');
  const maxAgeRaw = bounded(params, 'max_age', 12);
  if (maxAgeRaw !== undefined && !/^\d{1,10}$/.test(maxAgeRaw)) throw invalid('max_age');

  const opt = (name: string, max?: number) => {
    const v = bounded(params, name, max);
    return v === undefined ? {} : { [name]: v };
  };
  return {
    clientId: client.id,
    redirectUri: redirect.redirectUri,
    redirectUriSent: redirect.redirectUriSent,
    scope,
    ...(opt('state') as { state?: string }),
    ...(opt('nonce') as { nonce?: string }),
    ...(pkce ? { pkce } : {}),
    prompt,
    ...(maxAgeRaw !== undefined ? { maxAge: Number(maxAgeRaw) } : {}),
    ...(bounded(params, 'auth_source_id', 256) !== undefined ? { authSourceId: params.auth_source_id! } : {}),
    ...(bounded(params, 'ui_locales', 128) !== undefined ? { uiLocales: params.ui_locales! } : {}),
    ...(bounded(params, 'login_hint', 256) !== undefined ? { loginHint: params.login_hint! } : {}),
    issuer: profile.issuer,
    ...(profile.dialect !== undefined ? { dialect: profile.dialect } : {}),
    ...(implicit ? { responseType: 'token' as const } : {}),
  };
}

export type AuthorizeDecision = { readonly action: 'issue'; readonly session: SsoSession } | { readonly action: 'login' };

/** A live session answers the request silently unless prompt=login or max_age demands a new login. */
export function decide(request: AuthorizationRequest, session: SsoSession | null, nowSeconds: number): AuthorizeDecision {
  const fresh =
    session !== null &&
    !request.prompt.includes('login') &&
    (request.maxAge === undefined || nowSeconds - session.authTime <= request.maxAge);
  if (fresh) return { action: 'issue', session };
  if (request.prompt.includes('none')) throw new ProviderError('login_required', 'login required');
  return { action: 'login' };
}

/** The redirect carrying a code or an error (RFC 6749 §4.1.2 / §4.1.2.1). */
export function redirectWith(redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}
