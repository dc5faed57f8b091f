/**
 * POST {family}/oauth2/token (protocols.md T2). The flow of node-oidc-provider's token action:
 * parameters (query + form, body wins, no duplicates), client authentication (Basic or form),
 * grant lookup in the engine's registry, only the grant's declared parameters passed on, dispatch.
 * Kept lean: it is the benchmarked path (one hash for the client secret, no KDF, batched writes).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Params } from '../../engine/authorize.js';
import { ProviderError, isProviderError, missing } from '../../engine/errors.js';
import { toWire } from './errors.js';
import type { Family } from './families.js';
import { noStore, sendJson, sendWire, type DialectContext } from './http.js';
import { clientCredentials, collectParams } from './params.js';

export function tokenRoutes(app: FastifyInstance, ctx: DialectContext, family: Family): void {
  const { engine, metrics } = ctx;

  app.post(family.paths.token, async (req: FastifyRequest, reply: FastifyReply) => {
    noStore(reply);
    let basic = false;
    let grantLabel = 'unknown';
    try {
      const params = collectParams(req, { query: true, body: true });
      const creds = clientCredentials(req, params);
      basic = creds.basic;
      const grantType = params.grant_type;
      if (!grantType) throw missing('grant_type');
      const grant = engine.grants.get(grantType);
      if (grant) grantLabel = grantType;
      const client = engine.clients.authenticate(creds, { allowSecretless: grant?.allowsSecretless?.(params, family.profile) ?? false });
      if (!grant) throw new ProviderError('unsupported_grant_type', 'invalid grant_type', { param: 'grant_type' });
      const declared: Record<string, string> = {};
      for (const name of grant.params) if (params[name] !== undefined) declared[name] = params[name];
      const response = await engine.exchange(grantType, {
        client,
        clientAuthenticated: creds.clientSecret !== undefined,
        params: declared as Params,
        profile: family.profile,
        ip: req.ip,
      });
      // EIAM's password grant answers "refresh_token": "" (1442/62423, 62553).
      const body = family.name === 'eiam' && grantType === 'password' && !response.refresh_token ? { ...response, refresh_token: '' } : response;
      metrics.grants.inc({ grant_type: grantLabel, error: '' });
      return sendJson(reply, 200, body);
    } catch (err) {
      if (!isProviderError(err)) throw err;
      const wire = toWire(err, family.name, 'token', basic);
      metrics.grants.inc({ grant_type: grantLabel, error: wire.body.error ?? 'error' });
      if (wire.status >= 400) req.log.info({ kind: err.kind, cause: (err.cause as string | undefined) ?? err.detail, grant_type: grantLabel }, 'token request refused');
      return sendWire(reply, wire);
    }
  });
}
