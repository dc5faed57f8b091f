/**
 * POST /sso/refresh_token/ (protocols.md §3 Q4, seed 003): `Authorization: Bearer <access_token>`
 * and grant_type=refresh_token, refresh_token. The two QingCloud pages document different bodies;
 * §5.10 answers their union: the new access_token, expires_in, token_type, refresh_token and the
 * identity of the new token (access_key, secret_key, token, user).
 *
 * No client secret is documented here, so the Bearer token is the proof that goes with the refresh
 * token: it must be the access token currently issued with that refresh token (expired is fine:
 * QingCloud apps refresh after an expiry), and the client is the one the family belongs to. Only
 * families started at /sso/token/ are served: any other family needs its client's secret.
 * Rotation and reuse detection are the engine's (refresh-families.ts): presenting an already
 * rotated refresh token revokes the whole family, here as at /oauth2/token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Engine } from '../../engine/engine.js';
import { ProviderError, isProviderError, missing } from '../../engine/errors.js';
import { liveUserToken } from './check-token.js';
import { toSsoWire } from './errors.js';
import { bearer, bothSlashes, sendSsoError, sendSsoJson, type SsoContext } from './http.js';
import { ssoIdentity } from './identity.js';
import { ssoParams } from './params.js';

/** No client id is ever empty (config schema minLength 1): the engine's check can never pass. */
const NO_CLIENT = '';

/**
 * A refresh token that is not live (rotated, expired, unknown) still goes through the engine's
 * consume step so that a rotated one revokes its family; that step always refuses it.
 */
async function refuseDeadRefreshToken(engine: Engine, token: string): Promise<never> {
  await engine.refresh.consume(token, NO_CLIENT, async () => null);
  throw new ProviderError('invalid_refresh_token', 'invalid refresh token', { cause: 'refresh token not live' });
}

export function ssoRefreshRoutes(app: FastifyInstance, sso: SsoContext): void {
  const { dialect: ctx, profile } = sso;
  const { engine, metrics } = ctx;

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      const params = ssoParams(req, { body: true });
      const accessToken = bearer(req);
      if (!params.grant_type) throw missing('grant_type');
      if (params.grant_type !== 'refresh_token') throw new ProviderError('unsupported_grant_type', 'only refresh_token is served here', { param: 'grant_type' });
      const refreshToken = params.refresh_token;
      if (!refreshToken) throw missing('refresh_token');
      if (refreshToken.length > 512) throw new ProviderError('invalid_refresh_token', 'invalid refresh token', { cause: 'oversized' });

      const bearerKey = await engine.accessTokens.keyOf(accessToken, true);
      if (!bearerKey) throw new ProviderError('invalid_token', 'invalid access token');
      const live = await engine.refresh.peek(refreshToken);
      if (!live) return await refuseDeadRefreshToken(engine, refreshToken);
      // No client secret here: only a family this dialect started (at /sso/token/) may be
      // refreshed; a Tencent family of a confidential client needs that client's secret at its
      // own token endpoint. Refused without consuming: the holder's client keeps its token.
      if (live.record.dialect !== profile.dialect)
        throw new ProviderError('invalid_refresh_token', 'invalid refresh token', { cause: 'family not issued through /sso/token/' });
      const family = await engine.refresh.family(live.record.fid);
      if (family && !('revoked' in family) && family.at !== bearerKey)
        throw new ProviderError('invalid_token', 'the bearer token was not issued with this refresh token');
      const client = engine.clients.get(live.record.cid);
      if (!client) throw new ProviderError('invalid_refresh_token', 'invalid refresh token', { cause: 'client no longer configured' });

      const response = await engine.exchange('refresh_token', { client, clientAuthenticated: false, params: { refresh_token: refreshToken }, profile, ip: req.ip });
      const identity = await ssoIdentity(engine, sso.credentials, await liveUserToken(engine, response.access_token), false);
      metrics.grants.inc({ grant_type: 'sso_refresh_token', error: '' });
      return sendSsoJson(reply, 200, {
        access_token: response.access_token,
        expires_in: response.expires_in,
        token_type: 'Bearer',
        refresh_token: response.refresh_token,
        ...identity,
      });
    } catch (err) {
      if (!isProviderError(err)) throw err;
      const wire = toSsoWire(err, 'refresh_token');
      metrics.grants.inc({ grant_type: 'sso_refresh_token', error: wire.body.error });
      req.log.info({ kind: err.kind, cause: (err.cause as string | undefined) ?? err.detail }, 'sso refresh refused');
      return sendSsoError(reply, wire);
    }
  };
  for (const path of bothSlashes('/sso/refresh_token/')) app.post(path, handler);
}
