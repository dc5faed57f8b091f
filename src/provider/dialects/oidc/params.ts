/**
 * Request parameters of the Tencent endpoints. Parameters may come in the query or in a form body;
 * both are merged and the body wins (protocols.md §5.5). A parameter repeated within one of them is
 * refused (RFC 6749 §3.1, §3.2), an empty value counts as absent (§3.1), and a body in another
 * content type than application/x-www-form-urlencoded is refused. Client credentials come from
 * HTTP Basic (RFC 6749 §2.3.1, form-urlencoded inside) or the form, never both.
 */
import type { FastifyRequest } from 'fastify';
import type { ClientCredentials } from '../../engine/clients.js';
import { ProviderError } from '../../engine/errors.js';
import type { Params } from '../../engine/authorize.js';

const FORM = 'application/x-www-form-urlencoded';

function flatten(source: unknown, into: Record<string, string>): void {
  if (!source || typeof source !== 'object') return;
  for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
    if (Array.isArray(v)) throw new ProviderError('duplicate_parameter', `duplicate ${k} parameter`, { param: k });
    if (typeof v !== 'string') throw new ProviderError('invalid_request', 'malformed parameters');
    if (v !== '') into[k] = v;
    else delete into[k];
  }
}

/** True when the request carries a body that is not a form. */
export function hasNonFormBody(req: FastifyRequest): boolean {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === FORM) return false;
  const length = Number(req.headers['content-length'] ?? 0);
  return req.body !== undefined && req.body !== null && (length > 0 || type !== '' || req.headers['transfer-encoding'] !== undefined);
}

export function collectParams(req: FastifyRequest, opts: { query: boolean; body: boolean }): Record<string, string> {
  if (opts.body && hasNonFormBody(req))
    throw new ProviderError('invalid_request', `request body must be ${FORM}`);
  const out: Record<string, string> = {};
  if (opts.query) flatten(req.query, out);
  if (opts.body) {
    const body: Record<string, string> = {};
    flatten(req.body, body);
    Object.assign(out, body);
  }
  return out;
}

function formDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

/** The client's credentials (Basic or form), rejecting two methods at once. */
export function clientCredentials(req: FastifyRequest, params: Params): ClientCredentials & { basic: boolean } {
  const header = req.headers.authorization;
  if (header && /^basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    let id: string;
    let secret: string;
    try {
      if (colon < 0) throw new Error('no colon');
      id = formDecode(decoded.slice(0, colon));
      secret = formDecode(decoded.slice(colon + 1));
    } catch {
      throw new ProviderError('invalid_client', 'client authentication failed', { cause: 'malformed Basic credentials' });
    }
    if (params.client_secret !== undefined)
      throw new ProviderError('invalid_request', 'use one client authentication method');
    if (params.client_id !== undefined && params.client_id !== id)
      throw new ProviderError('invalid_request', 'client_id does not match the Basic credentials');
    return { clientId: id, clientSecret: secret, method: 'client_secret_basic', basic: true };
  }
  return {
    clientId: params.client_id,
    clientSecret: params.client_secret,
    method: params.client_secret !== undefined ? 'client_secret_post' : 'none',
    basic: false,
  };
}

/** The Bearer token of a resource request (RFC 6750 §2.1 header, §2.2 form body), or undefined. */
export function bearerToken(req: FastifyRequest, params: Params): string | undefined {
  const header = req.headers.authorization;
  const fromHeader = header && /^bearer /i.test(header) ? header.slice(7).trim() : undefined;
  const fromBody = params.access_token;
  if (fromHeader && fromBody) throw new ProviderError('invalid_request', 'use one method to send the token');
  return fromHeader || fromBody || undefined;
}
