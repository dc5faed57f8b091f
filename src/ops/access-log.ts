/**
 * One JSON log line per request (fastify's default is two, "incoming request" and "request
 * completed", neither with the route or the user). Plugged in as fastify's `logController`, so it
 * runs after every onResponse hook, when the gateway has set `request.metricsRoute` and
 * `request.userSub`.
 *
 *   {"level":30,"reqId":"…","msg":"request","route":"legacy-crm","method":"GET",
 *    "url":"/orders?id=7","status":200,"latencyMs":3.2,"sub":"u-123","remoteAddress":"10.0.0.7"}
 *
 * The URL goes through sanitizeUrl (codes, tokens, passwords in the query are masked); headers,
 * cookies and bodies are never part of the line.
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { sanitizeUrl } from './logger.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in user's `sub` once the gateway (or a bearer check) knows it; null otherwise. */
    userSub: string | null;
  }
}

/** pino's level numbers: a line is written when its level's number is at least the logger's. */
const LEVEL_VALUES: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

function levelEnabled(loggerLevel: string, lineLevel: 'debug' | 'info' | 'error'): boolean {
  return LEVEL_VALUES[lineLevel]! >= (LEVEL_VALUES[loggerLevel] ?? 0);
}

/** Paths probed every few seconds by Kubernetes and Prometheus: logged at debug when they succeed. */
const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export interface AccessLogLine {
  route: string;
  method: string;
  url: string;
  status: number;
  latencyMs: number;
  sub?: string;
  remoteAddress: string;
}

/** The label metrics and logs share: the gateway route name, else the fastify route pattern. */
export function routeLabel(request: FastifyRequest): string {
  return request.metricsRoute ?? request.routeOptions.url ?? 'unmatched';
}

export function accessLogLine(request: FastifyRequest, reply: FastifyReply): AccessLogLine {
  const line: AccessLogLine = {
    route: routeLabel(request),
    method: request.method,
    url: sanitizeUrl(request.url),
    status: reply.statusCode,
    latencyMs: Math.round(reply.elapsedTime * 100) / 100,
    remoteAddress: request.ip,
  };
  if (request.userSub) line.sub = request.userSub;
  return line;
}

export class AccessLogController extends LogController {
  /** Nothing on arrival: the single line is written when the response is done. */
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const status = reply.statusCode;
    const level = error || status >= 500 ? 'error' : PROBE_PATHS.has(request.url) && status < 400 ? 'debug' : 'info';
    // Below the configured level the line is not even built (its URL sanitizing and request.ip
    // cost ~1 µs per request on the gateway's hot path, for nothing).
    if (!levelEnabled(reply.log.level, level)) return;
    const line = accessLogLine(request, reply);
    if (error) {
      // The response failed on the wire (client went away, stream error): keep the cause.
      reply.log.error({ ...line, err: error }, 'request failed');
    } else {
      reply.log[level](line, 'request');
    }
  }

  /** Fastify's default message embeds the raw URL (query included); the access line covers 404s. */
  override routeNotFound(): void {}
}

/** nginx's status for a request whose client closed the connection before any answer. */
export const CLIENT_CLOSED_REQUEST = 499;

/**
 * The status of a response that closed before it finished: the one already sent when the answer
 * had started (an upstream answer cut short, or a client that left mid-body), else 499.
 */
export function unfinishedStatus(reply: FastifyReply): number {
  return reply.raw.headersSent ? reply.raw.statusCode : CLIENT_CLOSED_REQUEST;
}

/** The access line of a response that closed before it finished (fastify logs none for it). */
export function logUnfinished(request: FastifyRequest, reply: FastifyReply, status: number): void {
  if (!levelEnabled(reply.log.level, 'info')) return;
  reply.log.info({ ...accessLogLine(request, reply), status, aborted: true }, 'request not completed');
}
