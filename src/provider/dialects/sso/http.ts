/** What the `/sso/*` routes share: the dialect profile, the credentials store, reply helpers. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DialectContext } from '../../dialect.js';
import type { DialectProfile } from '../../engine/authorize.js';
import { ProviderError } from '../../engine/errors.js';
import { JSON_TYPE } from '../oidc/http.js';
import type { SsoCredentials } from './credentials.js';
import type { SsoWireError } from './errors.js';

export interface SsoContext {
  readonly dialect: DialectContext;
  readonly profile: DialectProfile;
  readonly credentials: SsoCredentials;
}

/**
 * The `/sso` profile: tokens carry the provider issuer (as CIAM's), redirect_uri is required at
 * authorize and token (seed 003 marks it required), PKCE S256 for clients that use it, and codes
 * issued here are redeemed only here (`dialect: 'sso'`).
 */
export function ssoProfile(ctx: DialectContext): DialectProfile {
  return {
    issuer: ctx.ciam.profile.issuer,
    pkceMethods: ['S256'],
    redirectUriRequired: true,
    secretlessWithPkce: false,
    passwordGrantRefresh: true,
    dialect: 'sso',
  };
}

export function sendSsoJson(reply: FastifyReply, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): FastifyReply {
  return reply.code(status).headers({ 'cache-control': 'no-store', pragma: 'no-cache', ...headers }).type(JSON_TYPE).send(JSON.stringify(body));
}

export function sendSsoError(reply: FastifyReply, wire: SsoWireError): FastifyReply {
  return sendSsoJson(reply, wire.status, wire.body, wire.headers);
}

/** The Bearer token of the Authorization header (RFC 6750 §2.1), or token_missing. */
export function bearer(req: FastifyRequest): string {
  const header = req.headers.authorization;
  const token = header && /^bearer /i.test(header) ? header.slice(7).trim() : '';
  if (!token) throw new ProviderError('token_missing', 'missing bearer token');
  if (token.length > 8192) throw new ProviderError('invalid_token', 'invalid access token');
  return token;
}

/** Registers a handler under a path with and without its trailing slash (QingCloud writes `/sso/token/`). */
export function bothSlashes(path: string): [string, string] {
  const bare = path.replace(/\/+$/, '');
  return [`${bare}/`, bare];
}
