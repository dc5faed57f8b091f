/**
 * Request parameters of the `/sso/*` endpoints. QingCloud does not say how the POST parameters are
 * encoded (protocols.md §3 Q2), so a form body and a JSON object body are both accepted (§5.10
 * decision, issue 4), merged over the query string (the body wins). A repeated parameter is refused
 * (RFC 6749 §3.1), an empty value counts as absent, JSON numbers and booleans are read as their
 * text (`is_filter_user_verify: 1`), nested values are refused.
 */
import type { FastifyRequest } from 'fastify';
import { ProviderError } from '../../engine/errors.js';

function flatten(source: unknown, into: Record<string, string>): void {
  if (source === undefined || source === null) return;
  if (typeof source !== 'object' || Array.isArray(source)) throw new ProviderError('invalid_request', 'the body must be a form or a JSON object');
  for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
    if (Array.isArray(v)) throw new ProviderError('duplicate_parameter', `duplicate ${k} parameter`, { param: k });
    if (v === null || v === undefined || v === '') {
      delete into[k];
      continue;
    }
    if (typeof v === 'string') into[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') into[k] = String(v);
    else throw new ProviderError('invalid_parameter', `invalid ${k}`, { param: k });
  }
}

export function ssoParams(req: FastifyRequest, opts: { body: boolean }): Record<string, string> {
  const out: Record<string, string> = {};
  flatten(req.query, out);
  if (opts.body) {
    const body: Record<string, string> = {};
    flatten(typeof req.body === 'string' || Buffer.isBuffer(req.body) ? undefined : req.body, body);
    Object.assign(out, body);
  }
  return out;
}
