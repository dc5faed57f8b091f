/**
 * The ONE place where engine errors become QingCloud `/sso/*` wire errors. QingCloud documents no
 * error bodies (protocols.md §3 "Undocumented: error body, HTTP codes"); §5.10 fixes RFC 6749 JSON:
 * `{"error","error_description"}`, 400 for bad requests (§5.2), 401 for failed client
 * authentication (§5.2) and for a bad bearer token (RFC 6750 §3.1), with WWW-Authenticate.
 */
import type { ProviderError, ProviderErrorKind } from '../../engine/errors.js';

export interface SsoWireError {
  readonly status: number;
  readonly body: { error: string; error_description: string };
  readonly headers?: Readonly<Record<string, string>>;
}

/** Which endpoint failed: authorize has no client authentication, the resource calls use Bearer. */
export type SsoEndpoint = 'authorize' | 'token' | 'check_token' | 'refresh_token';

const e = (status: number, error: string, error_description: string, headers?: Record<string, string>): SsoWireError => ({
  status,
  body: { error, error_description },
  ...(headers ? { headers } : {}),
});

const INVALID_GRANT: Partial<Record<ProviderErrorKind, string>> = {
  invalid_code: 'invalid code',
  redirect_uri_mismatch: 'invalid redirect_uri',
  invalid_code_verifier: 'invalid code_verifier',
  invalid_refresh_token: 'invalid refresh_token',
  abnormal_user_status: 'Abnormal user status',
};

export function toSsoWire(err: ProviderError, endpoint: SsoEndpoint, basic = false): SsoWireError {
  const param = err.param ?? 'request';
  const grant = INVALID_GRANT[err.kind];
  if (grant) return e(400, 'invalid_grant', grant);
  switch (err.kind) {
    case 'missing_parameter':
      return e(400, 'invalid_request', `missing ${param} parameter`);
    case 'duplicate_parameter':
      return e(400, 'invalid_request', `duplicate ${param} parameter`);
    case 'invalid_client':
      // At authorize nothing authenticated: an unknown client_id is a bad request shown to the user.
      if (endpoint === 'authorize') return e(400, 'invalid_request', 'unknown client_id');
      return e(401, 'invalid_client', 'client authentication failed', basic ? { 'www-authenticate': 'Basic realm="menshen"' } : undefined);
    case 'unauthorized_client':
    case 'unsupported_grant_type':
    case 'unsupported_response_type':
    case 'invalid_scope':
    case 'login_required':
    case 'access_denied':
      return e(400, err.kind, err.detail);
    case 'token_missing':
      return e(401, 'invalid_request', 'missing bearer token', { 'www-authenticate': 'Bearer realm="menshen"' });
    case 'invalid_token':
      return e(401, 'invalid_token', err.detail, { 'www-authenticate': 'Bearer realm="menshen", error="invalid_token"' });
    default:
      return e(400, 'invalid_request', err.detail);
  }
}

/** The error an authorize redirect carries back (RFC 6749 §4.1.2.1). */
export function ssoRedirectError(err: ProviderError): { error: string; error_description: string } {
  const passThrough: ReadonlySet<ProviderErrorKind> = new Set(['login_required', 'access_denied', 'invalid_scope', 'unauthorized_client', 'unsupported_response_type']);
  return { error: passThrough.has(err.kind) ? err.kind : 'invalid_request', error_description: err.detail };
}
