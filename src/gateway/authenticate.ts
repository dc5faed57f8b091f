/**
 * Who is asking: the session behind the cookie (refreshed when its access token is about to
 * expire), else an `Authorization: Bearer <JWT>` API client verified against the issuer's JWKS,
 * else nobody.
 *
 * A bearer JWT must be an ACCESS token meant for an API behind this gateway:
 * - signature (issuer JWKS, asymmetric algorithms only), iss, exp/nbf, sub;
 * - `aud` contains one of gateway.bearer.audiences (`azp` alone never counts: it names the client
 *   the token was issued to, not the API it is for). The gateway's own client id is accepted
 *   only with acceptGatewayAudience, else an access token handed to one passAccessToken upstream
 *   would log that upstream in on every route. No audiences configured: no bearer login at all;
 * - not an id token or logout token (same issuer, same keys): `typ` is at+jwt (RFC 9068) or JWT
 *   (what most external issuers put on access tokens), at+jwt only from the built-in provider,
 *   which types every access token; and no `nonce`, `at_hash` or `events` claim (OIDC Core §2,
 *   Back-Channel Logout §2.4: those are id/logout token claims, never access token ones).
 * Hot path for a session: one cookie parse, one store read; the idle slide is a background
 * EXPIRE at most once a minute (DESIGN §4 hot path budget).
 */
import { errors as joseErrors } from 'jose';
import { hashHandle } from '../crypto/secrets.js';
import type { Identity, PolicyOptions } from './policy.js';
import { InvalidBearerToken, IssuerUnavailable } from './errors.js';
import type { RelyingParty } from './rp.js';
import type { GatewayCookies } from './session/cookies.js';
import type { Refresher } from './session/refresh.js';
import { identityClaims, identityFromClaims, type IdentityOptions, type Session } from './session/session.js';
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
  bearer: {
    enabled: boolean;
    /** aud values accepted; empty: bearer tokens are not looked at. */
    audiences: string[];
    /** Require `typ: at+jwt` (the built-in provider types every access token so). */
    requireAtJwt: boolean;
  };
  /** How claims become an identity (unverified emails: gateway.oidc.insecureAllowUnverifiedEmail). */
  identity: IdentityOptions;
  /** How the identities of this issuer are matched by route policy (allow.users and usernames). */
  policy: PolicyOptions;
  onBackgroundError(err: unknown): void;
}

const BEARER = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

export function bearerToken(authorization: string | undefined): string | null {
  if (!authorization) return null;
  return BEARER.exec(authorization)?.[1] ?? null;
}

/** Claims only id tokens (nonce, at_hash: OIDC Core §2, §3.1.3.6) and logout tokens (events) carry. */
const NOT_ACCESS_TOKEN_CLAIMS = ['nonce', 'at_hash', 'events'];

/** A JWT `typ` compared as RFC 8725 §3.11 says: case-insensitive, without an 'application/' prefix. */
function mediaTypeOf(typ: unknown): string | undefined {
  if (typeof typ !== 'string') return undefined;
  const t = typ.toLowerCase();
  return t.startsWith('application/') ? t.slice('application/'.length) : t;
}

export class Authenticator {
  private readonly audiences: Set<string>;
  private readonly bearerOn: boolean;

  constructor(private readonly deps: AuthenticatorDeps) {
    this.audiences = new Set(deps.bearer.audiences);
    this.bearerOn = deps.bearer.enabled && this.audiences.size > 0;
  }

  /** Route policy options for the identities this authenticator returns (access.ts admit). */
  get policy(): PolicyOptions {
    return this.deps.policy;
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
          identity: identityFromClaims(session.data.claims, this.deps.identity),
          cacheKey: session.id,
          ...(session.data.at ? { accessToken: session.data.at } : {}),
          session,
          via: 'session',
          ...(renewTicket ? { renewCookie: this.deps.cookies.sessionCookie(session, session.data.exp - this.deps.sessions.nowSeconds()) } : {}),
        };
      }
    }
    const token = this.bearerOn ? bearerToken(headers.authorization) : null;
    if (token) {
      const claims = await this.verifyBearer(token);
      return { identity: identityFromClaims(identityClaims(claims), this.deps.identity), cacheKey: `b:${hashHandle(token)}`, accessToken: token, via: 'bearer' };
    }
    return null;
  }

  private async verifyBearer(token: string): Promise<Record<string, unknown>> {
    let claims: Record<string, unknown>;
    let typ: string | undefined;
    try {
      const verified = await this.deps.rp.verifyJwtWithHeader(token, { requiredClaims: ['exp', 'sub'] });
      claims = verified.payload;
      typ = mediaTypeOf(verified.header.typ);
    } catch (err) {
      if (err instanceof IssuerUnavailable) throw err;
      // The JWKS could not be fetched: nothing is known about the token yet (503, not 401).
      if (err instanceof TypeError || err instanceof joseErrors.JWKSTimeout) throw new IssuerUnavailable('identity provider keys unavailable', { cause: err });
      if (err instanceof joseErrors.JOSEError) throw new InvalidBearerToken(bearerProblem(err), { cause: err });
      throw new InvalidBearerToken('the access token could not be verified', { cause: err });
    }
    const typeOk = this.deps.bearer.requireAtJwt ? typ === 'at+jwt' : typ === undefined || typ === 'at+jwt' || typ === 'jwt';
    if (!typeOk || NOT_ACCESS_TOKEN_CLAIMS.some((c) => c in claims))
      throw new InvalidBearerToken('not an access token (an id or logout token cannot be used as a bearer token)');
    const aud = claims.aud;
    const auds = Array.isArray(aud) ? aud : typeof aud === 'string' ? [aud] : [];
    if (!auds.some((a) => this.audiences.has(a))) throw new InvalidBearerToken('the access token is not meant for this gateway (aud)');
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
