/**
 * pino options: JSON lines, request ids, and nothing secret. Query parameters that carry
 * credentials are masked in logged URLs; credential headers are redacted.
 */
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

/** Query/form parameter names whose values never reach a log line. */
export const SECRET_PARAMS = [
  'code',
  'state',
  'nonce',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'id_token_hint',
  'client_secret',
  'password',
  'code_verifier',
  'mfa_token',
  'oob_code',
  'binding_code',
  'session_token',
  'sso_ticket',
  'logout_token',
  'p_state',
];

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-signature"]',
  'req.headers["x-state-token"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'password',
  'client_secret',
  'clientSecret',
  'secret',
  '*.password',
  '*.clientSecret',
  '*.secret',
];

const SECRET_RE = new RegExp(`([?&](?:${SECRET_PARAMS.join('|')})=)[^&#]*`, 'gi');

/** The URL with every secret-bearing parameter value replaced by '***'. */
export function sanitizeUrl(url: string): string {
  return url.replace(SECRET_RE, '$1***');
}

/**
 * pino-pretty is a development dependency: the production image does not ship it, so pretty output
 * there falls back to JSON instead of crashing at start.
 */
export function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** LOG_LEVEL (when set to a pino level) wins over `log.level`; anything else is ignored with a warning. */
export function effectiveLevel(configured: string, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.LOG_LEVEL?.trim().toLowerCase();
  if (!fromEnv) return configured;
  if ((LOG_LEVELS as readonly string[]).includes(fromEnv)) return fromEnv;
  process.stderr.write(`menshen: LOG_LEVEL=${JSON.stringify(fromEnv)} is not one of ${LOG_LEVELS.join(', ')}; using ${configured}\n`);
  return configured;
}

export function loggerOptions(level: string, pretty: boolean): FastifyServerOptions['logger'] {
  if (pretty && !prettyAvailable()) {
    process.stderr.write('menshen: log.pretty is set but pino-pretty is not installed; logging JSON\n');
    pretty = false;
  }
  return {
    level: effectiveLevel(level),
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req(req: { method: string; url: string; ip?: string; hostname?: string; id?: string }) {
        return { method: req.method, url: sanitizeUrl(req.url), host: req.hostname, remoteAddress: req.ip };
      },
      res(res: { statusCode: number }) {
        return { statusCode: res.statusCode };
      },
    },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:standard' } } } : {}),
  };
}
