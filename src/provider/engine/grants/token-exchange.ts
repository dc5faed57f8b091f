/**
 * grant_type=urn:ietf:params:oauth:grant-type:token-exchange (RFC 8693; protocols.md §4 and T2
 * "Other EIAM token errors"). A confidential client whose `grants` list `token_exchange` trades a
 * user's token issued by this provider for an access token of its own: the same user, audience =
 * the requesting client, scope = the requested scope (default: the subject token's) intersected
 * with the subject token's and with what the client may have. Impersonation only (§1.1): an
 * actor_token (delegation) is refused. No refresh token and no id token: the caller already holds
 * the user's session elsewhere, and a refresh family here would outlive the token it came from.
 *
 * Subject tokens (§3 token type identifiers):
 *   ...:token-type:access_token  our access token, JWT or opaque, through the engine's
 *                                revocation-aware validation: revoked, rotated-out, logged-out and
 *                                expired tokens fail, as does a client token or a disabled user.
 *   ...:token-type:id_token      our id token, verified with our keys and issuers on the injected
 *                                clock, and only while the access token issued with it (its
 *                                `at_key` claim) is live: a refresh rotation, a revocation of the
 *                                refresh or access token, a logout or the access token's expiry end
 *                                it (T2 c: rotation invalidates the old id_token too; RFC 7009 §2.1).
 *                                One that names an SSO session (`sid`) also dies with it.
 *
 * Errors: missing subject_token / subject_token_type -> invalid_request (EIAM spells them
 * `suject_token`, 1442/62558; the dialect keeps the typo); an unsupported token type -> invalid_request;
 * a subject token that is not live -> `invalid_subject_token` (the dialect's invalid_request, RFC 8693 §2.2.2).
 */
import type { JWTPayload } from 'jose';
import type { User } from '../directory.js';
import { ProviderError, invalid, missing } from '../errors.js';
import { ACCESS_KEY_CLAIM, isIdTokenPayload } from '../id-tokens.js';
import { grantableScopes, parseScope } from '../scopes.js';
import type { Engine } from '../engine.js';
import type { Grant } from './grant.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

/** Longer than any token this provider issues (access-tokens.ts refuses JWTs above 8 KiB too). */
const MAX_SUBJECT_TOKEN = 8192;

/** What a live subject token stands for. */
interface Subject {
  readonly user: User;
  readonly scope: readonly string[];
  readonly sid?: string;
}

const dead = (cause: string) => new ProviderError('invalid_subject_token', 'invalid subject_token', { cause });

async function accessTokenSubject(engine: Engine, token: string): Promise<Subject> {
  const hit = await engine.validateAccessToken(token);
  if (!hit) throw dead('access token unknown, expired, revoked, or its user inactive');
  if (!hit.user) throw dead('a client token has no user to act for');
  return { user: hit.user, scope: hit.record.scope, ...(hit.record.sid !== undefined ? { sid: hit.record.sid } : {}) };
}

/**
 * An id token carries no scope; the claims it released say which scopes were granted (scopes.ts
 * userClaims). This can under-read (a user without an email never shows `email`), never over-read.
 */
function scopeFromIdTokenClaims(p: JWTPayload): string[] {
  const scope = ['openid'];
  if ('preferred_username' in p) scope.push('profile');
  else if ('groups' in p) scope.push('groups');
  if ('email' in p) scope.push('email');
  if ('phone_number' in p) scope.push('phone');
  return scope;
}

async function idTokenSubject(engine: Engine, token: string): Promise<Subject> {
  let payload: JWTPayload;
  try {
    payload = await engine.keys.verify(token, { typ: 'JWT', issuer: engine.registeredIssuers(), currentDate: new Date(engine.clock.now()) });
  } catch (err) {
    throw dead(`id token does not verify: ${(err as Error).message}`);
  }
  // typ JWT (verified above) and the claim shape: access, logout and /sso identity tokens are not id tokens.
  if (!isIdTokenPayload(payload)) throw dead('not an id token');
  const sub = payload.sub as string;
  // The id token is one of a set with its access token (and refresh token): it exchanges only while
  // that access token lives, so a rotation (which kills the previous access token), a revocation
  // or a replayed code ends it too; a password-grant id token has no sid to catch any of these.
  const atKey = payload[ACCESS_KEY_CLAIM];
  if (typeof atKey !== 'string') throw dead('id token names no access token (at_key)');
  const access = await engine.accessTokens.get(atKey);
  if (!access || access.exp <= engine.nowSeconds() || access.uid !== sub || access.cid !== payload.aud)
    throw dead('the access token issued with the id token is revoked, rotated out or expired');
  const sid = typeof payload.sid === 'string' ? payload.sid : undefined;
  if (sid !== undefined) {
    // Logout ends the session; an id token of that login must not mint new access afterwards.
    const session = await engine.sessions.get(sid);
    if (!session || session.userId !== sub) throw dead('the id token\'s SSO session has ended');
  }
  const user = await engine.directory.get(sub);
  if (!user || user.status !== 'active') throw dead('user gone or not active');
  return { user, scope: scopeFromIdTokenClaims(payload), ...(sid !== undefined ? { sid } : {}) };
}

export const tokenExchangeGrant: Grant = {
  type: TOKEN_EXCHANGE,
  clientGrant: 'token_exchange',
  params: ['subject_token', 'subject_token_type', 'scope', 'requested_token_type', 'audience', 'resource', 'actor_token', 'actor_token_type'],

  async handle({ engine, client, clientAuthenticated, params, profile }) {
    // A public client could replay any token it saw into one of its own; only a client that
    // proves its identity may exchange.
    if (!clientAuthenticated || client.isPublic)
      throw new ProviderError('unauthorized_client', 'token exchange needs a confidential client');
    const token = params.subject_token;
    if (!token) throw missing('subject_token');
    const type = params.subject_token_type;
    if (!type) throw missing('subject_token_type');
    if (type !== ACCESS_TOKEN_TYPE && type !== ID_TOKEN_TYPE) throw invalid('subject_token_type', 'unsupported subject_token_type');
    if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE)
      throw invalid('requested_token_type', 'only access tokens are issued');
    if (params.actor_token !== undefined) throw invalid('actor_token', 'delegation (actor_token) is not supported');
    // §2.1: actor_token_type MUST NOT be sent without an actor_token.
    if (params.actor_token_type !== undefined) throw invalid('actor_token_type', 'actor_token_type without actor_token');
    if (params.audience !== undefined && params.audience !== client.id)
      throw new ProviderError('invalid_target', 'audience must be the requesting client', { param: 'audience' });
    if (params.resource !== undefined) throw new ProviderError('invalid_target', 'resource indicators are not supported', { param: 'resource' });
    if (token.length > MAX_SUBJECT_TOKEN) throw dead('oversized subject token');

    const subject = type === ACCESS_TOKEN_TYPE ? await accessTokenSubject(engine, token) : await idTokenSubject(engine, token);
    const asked = params.scope !== undefined ? parseScope(params.scope) : subject.scope;
    const scope = grantableScopes(client, asked.filter((s) => subject.scope.includes(s)));
    if (!scope.length) throw new ProviderError('invalid_scope', 'no requested scope is within the subject token\'s scope', { param: 'scope' });

    const issued = await engine.issueTokens({
      client,
      issuer: profile.issuer,
      user: subject.user,
      scope,
      // Indexed under the session, so logging out revokes the exchanged token with the rest.
      ...(subject.sid !== undefined ? { sid: subject.sid } : {}),
      refresh: 'none',
      idToken: false,
    });
    const r = issued.response;
    // §2.2.1, in its order: access_token, issued_token_type, token_type, expires_in, scope.
    return { access_token: r.access_token, issued_token_type: ACCESS_TOKEN_TYPE, token_type: r.token_type, expires_in: r.expires_in, scope: r.scope };
  },
};
