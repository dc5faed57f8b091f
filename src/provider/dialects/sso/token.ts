/**
 * POST /sso/token/ (protocols.md §3 Q2, seed 003, account.md): grant_type=authorization_code, code,
 * redirect_uri, client_id, client_secret (or HTTP Basic), token_issuer (optional). The body has
 * exactly the documented members: access_token, expires_in, token_type, refresh_token.
 * token_issuer: absent (the SSO service issues; the older page's `app` / `app_dev` mean the same)
 * or `iam`: the client's own access token format, token_type `Bearer`, a refresh token when the
 * client may refresh; `iam_jwt`: a JWT access token whatever the client's format, token_type
 * `JWT`, and no refresh_token (account.md's table note).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Client } from '../../engine/clients.js';
import { ProviderError, invalid, isProviderError, missing } from '../../engine/errors.js';
import { clientCredentials } from '../oidc/params.js';
import { toSsoWire } from './errors.js';
import { bothSlashes, sendSsoError, sendSsoJson, type SsoContext } from './http.js';
import { ssoParams } from './params.js';

const ISSUED_BY_SSO = new Set(['iam', 'app', 'app_dev']);

export interface SsoTokenBody {
  access_token: string;
  expires_in: number;
  token_type: 'Bearer' | 'JWT';
  refresh_token?: string;
}

/** The client as an `iam_jwt` request shapes it: JWT access tokens, no refresh family. */
function iamJwtView(client: Client): Client {
  return { ...client, accessTokenFormat: 'jwt', grants: new Set([...client.grants].filter((g) => g !== 'refresh_token')) };
}

export function ssoTokenRoutes(app: FastifyInstance, sso: SsoContext): void {
  const { dialect: ctx, profile } = sso;
  const { engine, metrics } = ctx;

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    let basic = false;
    try {
      const params = ssoParams(req, { body: true });
      const creds = clientCredentials(req, params);
      basic = creds.basic;
      if (!params.grant_type) throw missing('grant_type');
      if (params.grant_type !== 'authorization_code') throw new ProviderError('unsupported_grant_type', 'only authorization_code is served here', { param: 'grant_type' });
      const issuer = params.token_issuer;
      if (issuer !== undefined && issuer !== 'iam_jwt' && !ISSUED_BY_SSO.has(issuer)) throw invalid('token_issuer');
      const client = engine.clients.authenticate(creds);
      const jwt = issuer === 'iam_jwt';
      const declared: Record<string, string> = {};
      for (const name of ['code', 'redirect_uri', 'code_verifier']) if (params[name] !== undefined) declared[name] = params[name];
      const response = await engine.exchange('authorization_code', {
        client: jwt ? iamJwtView(client) : client,
        clientAuthenticated: creds.clientSecret !== undefined,
        params: declared,
        profile,
        ip: req.ip,
      });
      const body: SsoTokenBody = {
        access_token: response.access_token,
        expires_in: response.expires_in,
        token_type: jwt ? 'JWT' : 'Bearer',
        ...(!jwt && response.refresh_token !== undefined ? { refresh_token: response.refresh_token } : {}),
      };
      metrics.grants.inc({ grant_type: 'sso_authorization_code', error: '' });
      return sendSsoJson(reply, 200, body);
    } catch (err) {
      if (!isProviderError(err)) throw err;
      const wire = toSsoWire(err, 'token', basic);
      metrics.grants.inc({ grant_type: 'sso_authorization_code', error: wire.body.error });
      req.log.info({ kind: err.kind, cause: (err.cause as string | undefined) ?? err.detail }, 'sso token request refused');
      return sendSsoError(reply, wire);
    }
  };
  for (const path of bothSlashes('/sso/token/')) app.post(path, handler);
}
