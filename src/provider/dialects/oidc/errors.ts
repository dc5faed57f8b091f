/**
 * The ONE place where engine errors become Tencent wire errors (protocols.md §1 T0-T8, §5).
 * CIAM speaks RFC 6749/6750 plus seed 001's verbatim password errors; EIAM has its own documented
 * strings (1442/62558, 62429: `invalid_request` + `invalid code`, `invalid client`, ... typos kept).
 * Anything that is not a ProviderError is the caller's to log and answer 500 `server_error`.
 */
import type { ProviderError, ProviderErrorKind } from '../../engine/errors.js';
import type { FamilyName } from './families.js';

export interface WireError {
  readonly status: number;
  readonly body: Record<string, string>;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Which endpoint failed: the same kind reads differently at each (e.g. invalid_client). */
export type Endpoint = 'token' | 'revoke' | 'introspect' | 'userinfo' | 'logout' | 'authorize' | 'mfa_challenge';

const RFC6750_URI = 'https://tools.ietf.org/html/rfc6750#section-3.1';

const e = (status: number, error: string, error_description?: string, headers?: Record<string, string>): WireError => ({
  status,
  body: error_description === undefined ? { error } : { error, error_description },
  ...(headers ? { headers } : {}),
});

/** Seed 001 (CIAM password grant) strings, shared by both families. */
const PASSWORD_ERRORS: Partial<Record<ProviderErrorKind, WireError>> = {
  wrong_credentials: e(400, 'invalid_grant', 'Wrong username or password'),
  abnormal_user_status: e(400, 'invalid_grant', 'Abnormal user status'),
  unsupported_identifier: e(400, 'invalid_grant', 'Unsupported username identifier'),
  auth_source_not_associated: e(400, 'invalid_auth_source', 'Auth source and application not associated'),
};

function bearerChallenge(error: string, description: string): string {
  return `Bearer error="${error}", error_description="${description}", error_uri="${RFC6750_URI}"`;
}

function ciam(err: ProviderError, endpoint: Endpoint, basic: boolean): WireError {
  const param = err.param ?? 'request';
  if (endpoint === 'userinfo') {
    // T4: RFC 6750 WWW-Authenticate errors exactly as CIAM (1441/64399).
    if (err.kind === 'token_missing') {
      const d = 'Bearer token not found in the request';
      return e(400, 'invalid_request', d, { 'www-authenticate': bearerChallenge('invalid_request', d) });
    }
    if (err.kind === 'insufficient_scope') {
      const d = 'The request requires higher privileges than provided by the access token';
      return e(403, 'insufficient_scope', d, { 'www-authenticate': bearerChallenge('insufficient_scope', d) });
    }
    if (err.kind === 'invalid_token') {
      const d = 'Error decoding JWT';
      return e(401, 'invalid_token', d, { 'www-authenticate': bearerChallenge('invalid_token', d) });
    }
  }
  if (err.kind === 'invalid_client') {
    // T7: CIAM revocation answers a bare {"error":"invalid_client"} (1148/51486); RFC 6749 §5.2
    // wants WWW-Authenticate whenever the client tried HTTP Basic.
    const headers = basic ? { 'www-authenticate': 'Basic realm="menshen"' } : undefined;
    return endpoint === 'revoke' ? e(401, 'invalid_client', undefined, headers) : e(401, 'invalid_client', 'client authentication failed', headers);
  }
  if (endpoint === 'logout' && err.param === 'client_id' && err.kind === 'missing_parameter')
    return e(400, 'invalid_request', 'Client ID parameter not found'); // T8, 1441/64393
  const password = PASSWORD_ERRORS[err.kind];
  if (password) return password;
  switch (err.kind) {
    case 'missing_parameter':
      return e(400, 'invalid_request', `missing ${param} parameter`);
    case 'duplicate_parameter':
      return e(400, 'invalid_request', `duplicate ${param} parameter`);
    case 'invalid_parameter':
    case 'invalid_request':
    case 'interaction_expired':
    case 'invalid_post_logout_redirect_uri':
      return e(400, 'invalid_request', err.detail);
    case 'unauthorized_client':
      return e(400, 'unauthorized_client', err.detail);
    case 'unsupported_grant_type':
      return e(400, 'unsupported_grant_type', 'unsupported grant_type');
    case 'unsupported_response_type':
      return e(400, 'unsupported_response_type', err.detail);
    case 'invalid_scope':
      return e(400, 'invalid_scope', err.detail);
    case 'invalid_code':
      return e(400, 'invalid_grant', 'invalid code');
    case 'redirect_uri_mismatch':
      return e(400, 'invalid_grant', 'invalid redirect_uri');
    case 'invalid_code_verifier':
      return e(400, 'invalid_grant', 'invalid code_verifier');
    case 'invalid_refresh_token':
      return e(400, 'invalid_grant', 'invalid refresh_token');
    case 'mfa_required':
      return { status: 403, body: { error: 'mfa_required', error_description: 'mfa required', ...err.extra } };
    case 'invalid_oob_code':
      return e(400, 'invalid_grant', 'invalid code'); // §5.4
    case 'invalid_binding_code':
      return e(400, 'invalid_grant', 'invalid binding_code'); // §5.4
    case 'invalid_subject_token':
      // RFC 8693 §2.2.2: an invalid, expired or revoked subject token MUST be invalid_request.
      // Tencent documents nothing here, so the standard wins (protocols.md preamble).
      return e(400, 'invalid_request', 'invalid subject_token');
    case 'invalid_target':
      return e(400, 'invalid_target', err.detail); // RFC 8693 §2.2.2
    case 'rate_limited':
      // SMS resend interval / daily cap: undocumented by Tencent; RFC 6585 429 with Retry-After.
      return e(429, 'too_many_requests', err.detail, { 'retry-after': err.extra?.retry_after ?? '60' });
    case 'delivery_failed':
      return e(503, 'temporarily_unavailable', 'sms delivery failed');
    case 'token_missing':
      return e(401, 'invalid_request', 'Bearer token not found in the request');
    case 'invalid_token':
      return e(401, 'invalid_token', 'invalid token');
    case 'insufficient_scope':
      return e(403, 'insufficient_scope', err.detail);
    case 'login_required':
    case 'access_denied':
      return e(400, err.kind, err.detail);
    default:
      return e(400, 'invalid_request', err.detail);
  }
}

/** EIAM's own spelling of some parameter names in its messages (1442/62558, typos kept). */
const EIAM_PARAM_SPELLING: Readonly<Record<string, string>> = { subject_token: 'suject_token', subject_token_type: 'suject_token_type' };

function eiam(err: ProviderError, endpoint: Endpoint, basic: boolean): WireError {
  const param = err.param ?? 'request';
  const req = (description: string, status = 400) => e(status, 'invalid_request', description);
  switch (err.kind) {
    case 'missing_parameter':
      // "missing username parameter", ..., "missing suject_token parameter" (sic)
      return req(`missing ${EIAM_PARAM_SPELLING[param] ?? param} parameter`);
    case 'invalid_parameter':
      return req(`invalid ${param}`); // "invalid redirect_uri", "invalid response_type"
    case 'duplicate_parameter':
      return req(`duplicate ${param} parameter`);
    case 'invalid_client':
      // T3, 1442/62436: the MFA challenge answers 403 unauthorized_client "invalid client".
      if (endpoint === 'mfa_challenge') return e(403, 'unauthorized_client', 'invalid client');
      // 1442/62558: 400 invalid_request "invalid client"; with HTTP Basic RFC 6749 §5.2 requires 401.
      return basic ? e(401, 'invalid_request', 'invalid client', { 'www-authenticate': 'Basic realm="menshen"' }) : req('invalid client');
    case 'invalid_code':
      return req('invalid code');
    case 'redirect_uri_mismatch':
      return req('invalid redirect_uri');
    case 'invalid_code_verifier':
      return req('invalid code challenge');
    case 'unsupported_grant_type':
      return req('invalid grant_type');
    case 'unsupported_response_type':
      return req('invalid response_type');
    case 'invalid_refresh_token':
    case 'invalid_token':
    case 'token_missing':
      // 1442/62558: 401 {"error":"invalid_request","error_description":"invalid_token"}
      return e(401, 'invalid_request', 'invalid_token', endpoint === 'userinfo' ? { 'www-authenticate': 'Bearer error="invalid_token"' } : undefined);
    case 'wrong_credentials':
      // 1442/62429: 403 unauthorized_client "invalid user password"
      return e(403, 'unauthorized_client', 'invalid user password');
    case 'mfa_required':
      return { status: 403, body: { error: 'mfa_required', error_description: 'mfa required', ...err.extra } }; // §5.1
    default:
      return ciam(err, endpoint, basic);
  }
}

export function toWire(err: ProviderError, family: FamilyName, endpoint: Endpoint, basic = false): WireError {
  return family === 'eiam' ? eiam(err, endpoint, basic) : ciam(err, endpoint, basic);
}

/** The error a redirect carries back to the client (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6). */
export function redirectError(err: ProviderError): { error: string; error_description: string } {
  const code: Partial<Record<ProviderErrorKind, string>> = {
    login_required: 'login_required',
    access_denied: 'access_denied',
    invalid_scope: 'invalid_scope',
    unauthorized_client: 'unauthorized_client',
    unsupported_response_type: 'unsupported_response_type',
    interaction_expired: 'access_denied',
  };
  return { error: code[err.kind] ?? 'invalid_request', error_description: err.detail };
}
