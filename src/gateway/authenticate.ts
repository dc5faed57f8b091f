/**
 * Who is asking: the session behind the cookie (refreshed when its access token is about to
 * expire), else an `Authorization: Bearer <JWT>` API client verified against the issuer's JWKS
 * (iss, exp/nbf, signature, and aud or azp = a configured client), else nobody.
 * Hot path for a session: one cookie parse, one store read; the idle slide is a background
 * EXPIRE at most once a minute (DESIGN §4 hot path budget).
 */
import { errors as joseErrors } from 'jose';
import { hashHandle } from '../crypto/secrets.js';
import type { Identity } from './policy.js';
import { InvalidBearerToken, IssuerUnavailable } from './errors.js';
import type { RelyingParty } from './rp.js';
import type { GatewayCookies } from './session/cookies.js';
import type { Refresher } from './session/refresh.js';
import { identityClaims, identityFromClaims, type Session } from './session/session.js';
import type { SessionStore } from './session/store.js';

export interface Authenticated {
  identity: Identity;
  /** Assertion cache key: the session id, or a hash of the bearer token. */
  cacheKey: string;
  accessToken?: string;
  session?: Session;
  via: 'session' | 'bearer';
  /** Set-Cookie re-issuing a session cookie that was signed with a rotated-out secret. */
  renewCookie?: string;
}

export interface AuthenticatorDeps {
  cookies: GatewayCookies;
  sessions: SessionStore;
  refresher: Refresher;
  rp: RelyingParty;
  bearer: { enabled: boolean; audiences: string[] };
  onBackgroundError(err: unknown): void;
}

const BEARER = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

export function bearerToken(authorization: string | undefined): string | null {
  if (!authorization) return null;
  return BEARER.exec(authorization)?.[1] ?? null;
}

export class Authenticator {
  private readonly audiences: Set<string>;

  constructor(private readonly deps: AuthenticatorDeps) {
    this.audiences = new Set(deps.bearer.audiences);
  }

  /** The caller's identity, or null when there is none (a lost or garbage cookie is "none", never an error). */
  async authenticate(headers: { cookie?: string | undefined; authorization?: string | undefined }): Promise<Authenticated | null> {
    const { ticket, renewTicket } = this.deps.cookies.read(headers.cookie);
    if (ticket) {
      const loaded = await this.deps.sessions.load(ticket);
      const session = loaded && (await this.deps.refresher.ensureFresh(loaded));
      if (session) {
        this.deps.sessions.touch(session).catch(this.deps.onBackgroundError);
        return {
          identity: identityFromClaims(session.data.claims),
          cacheKey: session.id,
          ...(session.data.at ? { accessToken: session.data.at } : {}),
          session,
          via: 'session',
          ...(renewTicket ? { renewCookie: this.deps.cookies.sessionCookie(session, session.data.exp - this.deps.sessions.nowSeconds()) } : {}),
        };
      }
    }
    const token = this.deps.bearer.enabled ? bearerToken(headers.authorization) : null;
    if (token) {
      const claims = await this.verifyBearer(token);
      return { identity: identityFromClaims(identityClaims(claims)), cacheKey: `b:${hashHandle(token)}`, accessToken: token, via: 'bearer' };
    }
    return null;
  }

  private async verifyBearer(token: string): Promise<Record<string, unknown>> {
    let claims: Record<string, unknown>;
    try {
      claims = await this.deps.rp.verifyJwt(token, { requiredClaims: ['exp', 'sub'] });
    } catch (err) {
      if (err instanceof IssuerUnavailable) throw err;
      // The JWKS could not be fetched: nothing is known about the token yet (503, not 401).
      if (err instanceof TypeError || err instanceof joseErrors.JWKSTimeout) throw new IssuerUnavailable('identity provider keys unavailable', { cause: err });
      if (err instanceof joseErrors.JOSEError) throw new InvalidBearerToken(bearerProblem(err), { cause: err });
      throw new InvalidBearerToken('the access token could not be verified', { cause: err });
    }
    const aud = claims.aud;
    const auds = Array.isArray(aud) ? aud : typeof aud === 'string' ? [aud] : [];
    const azp = typeof claims.azp === 'string' ? claims.azp : undefined;
    if (!auds.some((a) => this.audiences.has(a)) && !(azp && this.audiences.has(azp)))
      throw new InvalidBearerToken('the access token is not meant for this gateway (aud/azp)');
    return claims;
  }
}

function bearerProblem(err: InstanceType<typeof joseErrors.JOSEError>): string {
  if (err instanceof joseErrors.JWTExpired) return 'the access token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `the access token failed the ${err.claim} check`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey)
    return 'the access token signature does not verify';
  return 'the access token is not a valid JWT from the issuer';
}
