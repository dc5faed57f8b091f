/**
 * POST /sso/check_token/ (protocols.md §3 Q3, seed 003, 40_check_token.md): `Authorization: Bearer
 * <access_token>`, optional is_filter_user_verify 0|1 (default 0). Answers the identity body
 * (identity.ts). A missing, unknown, expired or revoked token, or a token that acts for no user
 * (client_credentials), is 401 (§5.10).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessRecord } from '../../engine/access-tokens.js';
import type { User } from '../../engine/directory.js';
import type { Engine } from '../../engine/engine.js';
import { ProviderError, invalid, isProviderError } from '../../engine/errors.js';
import { toSsoWire } from './errors.js';
import { bearer, bothSlashes, sendSsoError, sendSsoJson, type SsoContext } from './http.js';
import { ssoIdentity } from './identity.js';
import { ssoParams } from './params.js';

/** A live access token acting for an active user, with its store key; invalid_token otherwise. */
export async function liveUserToken(engine: Engine, token: string): Promise<{ token: string; key: string; record: AccessRecord; user: User }> {
  const hit = await engine.accessTokens.validate(token);
  const user = hit?.record.uid !== undefined ? await engine.directory.get(hit.record.uid) : null;
  if (!hit || !user || user.status !== 'active') throw new ProviderError('invalid_token', 'invalid access token');
  return { token, key: hit.key, record: hit.record, user };
}

export function ssoCheckTokenRoutes(app: FastifyInstance, sso: SsoContext): void {
  const { engine } = sso.dialect;
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      const params = ssoParams(req, { body: true });
      const filter = params.is_filter_user_verify ?? '0';
      if (filter !== '0' && filter !== '1') throw invalid('is_filter_user_verify');
      const live = await liveUserToken(engine, bearer(req));
      return sendSsoJson(reply, 200, await ssoIdentity(engine, sso.credentials, live, filter === '1'));
    } catch (err) {
      if (!isProviderError(err)) throw err;
      return sendSsoError(reply, toSsoWire(err, 'check_token'));
    }
  };
  for (const path of bothSlashes('/sso/check_token/')) app.post(path, handler);
}
