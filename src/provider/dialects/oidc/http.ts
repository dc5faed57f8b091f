/** Reply helpers shared by the Tencent endpoints (T0: JSON as application/json;charset=UTF-8). */
import type { FastifyReply } from 'fastify';
import type { WireError } from './errors.js';
export type { DialectContext } from '../../dialect.js';

export const JSON_TYPE = 'application/json;charset=UTF-8';
export const HTML_TYPE = 'text/html; charset=utf-8';

export function sendJson(reply: FastifyReply, status: number, body: unknown, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(status).headers(headers).type(JSON_TYPE).send(JSON.stringify(body));
}

/** Token responses and errors must not be cached (RFC 6749 §5.1). */
export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

export function sendWire(reply: FastifyReply, wire: WireError): FastifyReply {
  return sendJson(reply, wire.status, wire.body, { ...wire.headers });
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/**
 * Headers for every provider HTML page: no framing, no caching, inline CSS only. The referrer stays
 * same-origin (not no-referrer: with that Chromium sends `Origin: null` on the login POST, which the
 * login's Origin check must refuse).
 */
export function htmlHeaders(reply: FastifyReply, formAction = "'self'"): FastifyReply {
  return reply
    .type(HTML_TYPE)
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .header('content-security-policy', `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`);
}
