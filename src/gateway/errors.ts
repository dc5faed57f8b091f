/**
 * Everything the gateway refuses, as typed errors, and the ONE place that turns them into wire
 * responses: a login redirect or 401 JSON, a 403 page or JSON, 400, 404, 502/504, 503.
 * Handlers only throw (STYLE habit 1); `sendGatewayError` decides the shape by who is asking
 * (a browser navigation gets HTML and redirects, an API/XHR client gets JSON).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { StoreUnavailableError } from '../store/store.js';

export abstract class GatewayError extends Error {
  abstract readonly status: number;
  /** The OAuth-style error code of the JSON body. */
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** No usable session: browsers are sent to log in (returning to `returnTo`), API clients get 401. */
export class LoginRequired extends GatewayError {
  readonly status = 401;
  readonly code = 'unauthorized';
  constructor(readonly returnTo: string, message = 'login required') {
    super(message);
  }
}

/** An Authorization: Bearer token that does not verify (RFC 6750 §3.1 invalid_token). */
export class InvalidBearerToken extends GatewayError {
  readonly status = 401;
  readonly code = 'invalid_token';
}

/** Signed in, but the route's policy says no. */
export class AccessDenied extends GatewayError {
  readonly status = 403;
  readonly code = 'access_denied';
}

/** The issuer refused the login (e.g. the user declined consent) or the callback did not validate. */
export class LoginFailed extends GatewayError {
  readonly status: number;
  readonly code = 'login_failed';
  constructor(message: string, status = 400, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

export class BadRequest extends GatewayError {
  readonly status = 400;
  readonly code = 'invalid_request';
}

export class NotFound extends GatewayError {
  readonly status = 404;
  readonly code = 'not_found';
}

/** A client started more logins than gateway.loginRateLimit allows: 429, try again in a minute. */
export class TooManyLogins extends GatewayError {
  readonly status = 429;
  readonly code = 'too_many_requests';
  constructor(message = 'too many sign-ins started from this address; please wait a minute') {
    super(message);
  }
}

/** The issuer cannot be reached (discovery, or a refresh after the access token really expired). */
export class IssuerUnavailable extends GatewayError {
  readonly status = 503;
  readonly code = 'temporarily_unavailable';
  constructor(message = 'identity provider unavailable', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The session store (Redis) cannot be reached: protected routes fail closed. */
export class SessionStoreUnavailable extends GatewayError {
  readonly status = 503;
  readonly code = 'temporarily_unavailable';
  constructor(options?: { cause?: unknown }) {
    super('session store unavailable', options);
  }
}

/** The protected app did not answer (502) or not in time (504). */
export class UpstreamFailed extends GatewayError {
  readonly code = 'bad_gateway';
  constructor(readonly status: 502 | 504, options?: { cause?: unknown }) {
    super(status === 504 ? 'upstream timed out' : 'upstream unavailable', options);
  }
}

/**
 * A browser navigation gets HTML pages and redirects; anything else (no text/html in Accept, or
 * X-Requested-With: XMLHttpRequest) gets JSON and status codes (DESIGN §4).
 */
export function isBrowserRequest(headers: FastifyRequest['headers']): boolean {
  const xrw = headers['x-requested-with'];
  if (typeof xrw === 'string' && xrw.toLowerCase() === 'xmlhttprequest') return false;
  const accept = headers.accept;
  return typeof accept === 'string' && accept.includes('text/html');
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Sign-in required',
  403: 'Access denied',
  404: 'Not found',
  429: 'Too many requests',
  502: 'Bad gateway',
  503: 'Temporarily unavailable',
  504: 'Gateway timeout',
};

export function htmlPage(status: number, message: string, link?: { href: string; text: string }): string {
  const title = TITLES[status] ?? 'Error';
  const a = link ? `<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>` : '';
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${escapeHtml(message)}</p>${a}</body></html>`;
}

export interface ErrorDeps {
  /** Starts a login for a browser and replies with the redirect (login.ts). */
  startLogin(req: FastifyRequest, reply: FastifyReply, returnTo: string): Promise<FastifyReply>;
}

/** The one mapping from a thrown error to the gateway's wire response. */
export async function sendGatewayError(err: unknown, req: FastifyRequest, reply: FastifyReply, deps: ErrorDeps): Promise<FastifyReply> {
  if (reply.sent) return reply;
  const browser = isBrowserRequest(req.headers);
  reply.header('cache-control', 'no-store');

  if (err instanceof LoginRequired) {
    if (browser) {
      try {
        return await deps.startLogin(req, reply, err.returnTo);
      } catch (startErr) {
        return sendGatewayError(startErr, req, reply, deps);
      }
    }
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send({ error: err.code, error_description: err.message });
  }
  if (err instanceof InvalidBearerToken) {
    return reply
      .code(401)
      .header('www-authenticate', `Bearer error="invalid_token", error_description="${err.message.replace(/["\\]/g, '')}"`)
      .send({ error: err.code, error_description: err.message });
  }

  let gwErr: GatewayError;
  if (err instanceof GatewayError) {
    gwErr = err;
  } else if (err instanceof StoreUnavailableError) {
    req.log.error({ cause: (err.cause as Error | undefined)?.message }, 'session store unavailable: failing closed');
    gwErr = new SessionStoreUnavailable({ cause: err.cause });
  } else if (isClientError(err)) {
    gwErr = new BadRequest((err as Error).message);
  } else {
    req.log.error({ err }, 'gateway error');
    return reply.code(500).send({ error: 'server_error', error_description: 'internal error' });
  }
  if (gwErr.status >= 500 && !(gwErr instanceof SessionStoreUnavailable)) req.log.warn({ err: gwErr.cause ?? gwErr }, gwErr.message);
  else if (gwErr.status < 500 && gwErr.cause instanceof Error) req.log.info({ cause: gwErr.cause.message }, gwErr.message);
  if (gwErr.status === 503) reply.header('retry-after', '5');
  if (gwErr.status === 429) reply.header('retry-after', '60');
  reply.code(gwErr.status);
  if (browser) {
    const link = gwErr.status === 403 ? { href: '/_menshen/logout', text: 'Sign in as someone else' } : undefined;
    return reply.type('text/html; charset=utf-8').send(htmlPage(gwErr.status, gwErr.message, link));
  }
  return reply.send({ error: gwErr.code, error_description: gwErr.message });
}

/** Errors fastify or a library raise with a 4xx statusCode (bad URL, bad body): the client's fault. */
function isClientError(err: unknown): boolean {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500;
}
