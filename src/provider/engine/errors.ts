/**
 * Wire-neutral provider errors. The engine throws these; each dialect maps `kind` (plus `param`)
 * to its exact wire strings in ONE place (e.g. dialects/oidc/errors.ts), because CIAM, EIAM, /sso
 * and OneAccess spell the same failure differently (protocols.md §1 T2, §5).
 *
 * `detail` is an English description a dialect may use when it has no verbatim string of its own;
 * it never contains secrets. Internals for the log go in `cause`.
 */

export type ProviderErrorKind =
  /** A required parameter is absent (`param` names it). */
  | 'missing_parameter'
  /** A parameter is present but malformed or not allowed (`param` names it). */
  | 'invalid_parameter'
  /** A parameter was given more than once (RFC 6749 §3.1, §3.2). */
  | 'duplicate_parameter'
  /** The request as a whole is malformed (content type, two client auth methods, ...). */
  | 'invalid_request'
  /** Client authentication failed: unknown client, wrong or missing secret. */
  | 'invalid_client'
  /** The client is not allowed this grant / response type. */
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  /** Authorization code unknown, expired, already used, or issued to another client. */
  | 'invalid_code'
  /** redirect_uri at the token endpoint differs from the one the code was issued for. */
  | 'redirect_uri_mismatch'
  /** code_verifier does not match the code_challenge (or is missing / malformed). */
  | 'invalid_code_verifier'
  /** Refresh token unknown, expired, revoked or reused. */
  | 'invalid_refresh_token'
  /** Password grant / login page: unknown user or wrong password (never says which). */
  | 'wrong_credentials'
  /** Disabled or locked user, or locked out by the brute-force counters. */
  | 'abnormal_user_status'
  /** The username's shape (email, phone) is not an identifier of the auth source. */
  | 'unsupported_identifier'
  /** auth_source_id unknown or not associated with the client. */
  | 'auth_source_not_associated'
  /** A second factor is needed: `extra.mfa_token` carries the handle. */
  | 'mfa_required'
  /** mfa_token or oob code (challenge) unknown, expired, used or ended (§5.4: invalid_grant `invalid code`). */
  | 'invalid_oob_code'
  /** The SMS digits (binding_code) are wrong (§5.4: invalid_grant `invalid binding_code`). */
  | 'invalid_binding_code'
  /** RFC 8693: the subject_token is not a live token of this provider for an active user. */
  | 'invalid_subject_token'
  /** RFC 8693 §2.2.2: an audience or resource this provider does not issue tokens for. */
  | 'invalid_target'
  /** Too many sends (resend interval, daily cap): `extra.retry_after` says when to try again, seconds. */
  | 'rate_limited'
  /** The second factor's message (SMS) could not be delivered; nothing was sent. */
  | 'delivery_failed'
  /** Bearer token missing (RFC 6750 §3.1 invalid_request). */
  | 'token_missing'
  /** Bearer token invalid, expired or revoked (RFC 6750 invalid_token). */
  | 'invalid_token'
  /** Bearer token lacks a required scope. */
  | 'insufficient_scope'
  /** prompt=none but the user must log in (OIDC Core §3.1.2.6). */
  | 'login_required'
  | 'access_denied'
  /** Unknown or expired login interaction (the login page's p_state). */
  | 'interaction_expired'
  /** A post-logout redirect URI that no client registered. */
  | 'invalid_post_logout_redirect_uri';

export class ProviderError extends Error {
  constructor(
    readonly kind: ProviderErrorKind,
    readonly detail: string,
    readonly options: { param?: string; extra?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProviderError';
  }

  get param(): string | undefined {
    return this.options.param;
  }

  get extra(): Record<string, string> | undefined {
    return this.options.extra;
  }
}

export const missing = (param: string) => new ProviderError('missing_parameter', `missing ${param} parameter`, { param });
export const invalid = (param: string, detail = `invalid ${param}`) => new ProviderError('invalid_parameter', detail, { param });
export const isProviderError = (e: unknown): e is ProviderError => e instanceof ProviderError;
