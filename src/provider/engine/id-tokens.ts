/**
 * ID tokens (OIDC Core §2, §3.1.3.6): iss, sub, aud, azp, exp, iat, jti, auth_time, nonce (only
 * from an authorization request), sid (provider SSO session), at_hash, at_key (the store key of the
 * access token issued with it, see IdTokenInput.accessKey), amr, plus the user claims
 * the scopes release (scopes.ts), and `email_verified` beside a released `email` (see
 * idTokenUserClaims). Logout tokens for Back-Channel Logout 1.0 §2.4 live here too.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { JWTPayload } from 'jose';
import type { KeyStore } from '../../crypto/keystore.js';
import { epochSeconds, type Clock } from '../../clock.js';
import type { User } from './directory.js';
import { userClaims } from './scopes.js';

export interface IdTokenInput {
  issuer: string;
  clientId: string;
  user: User;
  scope: readonly string[];
  authTime?: number;
  nonce?: string;
  sid?: string;
  amr?: readonly string[];
  accessToken?: string;
  /**
   * The store key of the access token issued with this id token (access-tokens.ts: `j:{jti}` or
   * `o:{sha256}`), carried as `at_key` so that token exchange accepts the id token only while that
   * access token lives: a refresh rotation, a revocation or a logout ends both (protocols.md T2 c).
   */
  accessKey?: string;
}

/** The id token claim naming the store key of the access token issued with it (IdTokenInput.accessKey). */
export const ACCESS_KEY_CLAIM = 'at_key';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * Whether verified claims (header typ `JWT` checked by the caller) have the shape of an id token
 * this provider signed: `azp` equal to `aud` (every id token here has it; access tokens, logout
 * tokens and the /sso identity token do not), and none of the other kinds' claims.
 */
export function isIdTokenPayload(p: JWTPayload): boolean {
  return (
    typeof p.sub === 'string' &&
    typeof p.azp === 'string' &&
    p.azp === p.aud &&
    !('scope' in p) &&
    !('client_id' in p) &&
    !('events' in p) &&
    !('access_key' in p)
  );
}
const LOGOUT_TOKEN_TTL = 120;

/**
 * The user claims of an id token: the scopes' claims plus `email_verified: true` whenever `email`
 * is released (OIDC Core §5.1). The directory has no per-user verification flag because no user
 * can set an address: emails come only from provider.users (the operator's config) and the
 * OneAccess management API (management clients), so every address the provider releases is one it
 * vouches for. Relying parties that require a verified email (the gateway does by default) need
 * the claim. Userinfo keeps the platforms' documented shapes (protocols.md T4) unchanged.
 */
function idTokenUserClaims(user: User, scope: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = userClaims(user, scope);
  if (typeof claims.email === 'string') claims.email_verified = true;
  return claims;
}

export class IdTokens {
  constructor(
    private readonly keys: KeyStore,
    private readonly clock: Clock,
    readonly ttlSeconds: number,
  ) {}

  /** at_hash: left half of the hash of the access token, the hash matching the signing alg (§3.1.3.6). */
  private atHash(accessToken: string): string {
    const d = createHash(this.keys.alg === 'EdDSA' ? 'sha512' : 'sha256').update(accessToken, 'ascii').digest();
    return d.subarray(0, d.length / 2).toString('base64url');
  }

  sign(i: IdTokenInput): Promise<string> {
    const iat = epochSeconds(this.clock);
    return this.keys.sign({
      iss: i.issuer,
      sub: i.user.id,
      aud: i.clientId,
      azp: i.clientId,
      exp: iat + this.ttlSeconds,
      iat,
      jti: randomUUID(),
      ...(i.authTime !== undefined ? { auth_time: i.authTime } : {}),
      ...(i.nonce !== undefined ? { nonce: i.nonce } : {}),
      ...(i.sid !== undefined ? { sid: i.sid } : {}),
      ...(i.amr?.length ? { amr: [...i.amr] } : {}),
      ...(i.accessToken !== undefined ? { at_hash: this.atHash(i.accessToken) } : {}),
      ...(i.accessKey !== undefined ? { [ACCESS_KEY_CLAIM]: i.accessKey } : {}),
      ...idTokenUserClaims(i.user, i.scope),
    });
  }

  /** A Back-Channel Logout 1.0 logout_token: typ logout+jwt, events, sid and sub, never a nonce. */
  logoutToken(p: { issuer: string; clientId: string; sub: string; sid: string }): Promise<string> {
    const iat = epochSeconds(this.clock);
    return this.keys.sign(
      {
        iss: p.issuer,
        aud: p.clientId,
        iat,
        exp: iat + LOGOUT_TOKEN_TTL,
        jti: randomUUID(),
        sub: p.sub,
        sid: p.sid,
        events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
      },
      'logout+jwt',
    );
  }
}
