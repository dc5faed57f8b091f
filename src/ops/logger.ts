/**
 * pino options: JSON lines, request ids, and nothing secret. Query parameters that carry
 * credentials are masked in logged URLs; credential headers are redacted.
 */
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

/**
 * Query/form parameter names whose values never reach a log line, besides every name ending in
 * `token`, `secret` or `password` (SECRET_SUFFIX). EIAM sends every token-endpoint parameter in the
 * query string (protocols.md T0), RFC 8693's subject_token and actor_token included.
 */
export const SECRET_PARAMS = [
  'code',
  'state',
  'nonce',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'id_token_hint',
  'subject_token',
  'actor_token',
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

const SECRET_NAMES = new Set(SECRET_PARAMS);
/** Names a credential hides behind that no list can enumerate (old_password, csrf_token, ...). */
const SECRET_SUFFIX = /(?:token|secret|password)$/;
/** A parameter name after `?` or `&`, up to its `=` (the value follows). */
const PARAM_NAME = /[?&]([^&=#?]*)=/g;

/** Whether a query parameter's value must be masked: the name as the server reads it, any case. */
export function isSecretParam(rawName: string): boolean {
  let name = rawName;
  // Fastify decodes names (`subject%5Ftoken` is subject_token to the token endpoint): so do we.
  if (/[%+]/.test(name)) {
    try {
      name = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      // malformed escapes: the raw name is what is checked
    }
  }
  name = name.toLowerCase();
  return SECRET_NAMES.has(name) || SECRET_SUFFIX.test(name);
}

/** The URL with every secret-bearing parameter value replaced by '***'. */
export function sanitizeUrl(url: string): string {
  let out = '';
  let last = 0;
  PARAM_NAME.lastIndex = 0;
  for (let m = PARAM_NAME.exec(url); m; m = PARAM_NAME.exec(url)) {
    if (!isSecretParam(m[1]!)) continue; // scanning goes on inside its value, as `?a=/cb?code=x` has a code
    const start = m.index + m[0].length;
    let end = start;
    while (end < url.length && url[end] !== '&' && url[end] !== '#') end++;
    out += `${url.slice(last, start)}***`;
    last = end;
    PARAM_NAME.lastIndex = end;
  }
  return last === 0 ? url : out + url.slice(last);
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
