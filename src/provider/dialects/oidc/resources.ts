/**
 * The bearer and client-authenticated endpoints: userinfo (T4), revoke (T7), introspect (RFC 7662).
 *   CIAM GET|POST /userinfo            -> sub + the scopes' claims; RFC 6750 errors exactly as T4
 *   EIAM GET|POST /auth/oauth2/userinfo -> {sub, ou_id, phone_number (masked), email, username, nickname}
 *   CIAM POST /oauth2/revoke           -> bare 200; wrong client 401 {"error":"invalid_client"}
 *   EIAM GET|POST /auth/oauth2/revoke  -> {"success":"ok","message":"invalidate token success"}
 *   POST {family}/oauth2/introspect    -> RFC 7662, confidential clients only
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ProviderError, isProviderError, missing } from '../../engine/errors.js';
import type { User } from '../../engine/directory.js';
import { toWire, type Endpoint } from './errors.js';
import type { Family } from './families.js';
import { noStore, sendJson, sendWire, type DialectContext } from './http.js';
import { bearerToken, clientCredentials, collectParams } from './params.js';

/** "+8615088888888" -> "+86-150****8888" (EIAM sample, 1442/62431); other numbers keep 3 + 4 digits. */
export function maskPhone(phone: string | undefined): string {
  if (!phone) return '';
  const cn = /^\+86(\d{11})$/.exec(phone);
  if (cn) return `+86-${cn[1]!.slice(0, 3)}****${cn[1]!.slice(7)}`;
  const digits = phone.replace(/\D/g, '');
  return digits.length >= 8 ? `${phone.startsWith('+') ? '+' : ''}${digits.slice(0, 3)}****${digits.slice(-4)}` : '****';
}

function eiamUserinfo(user: User): Record<string, string> {
  return {
    sub: user.id,
    ou_id: user.orgId ?? '',
    phone_number: maskPhone(user.phone),
    email: user.email ?? '',
    username: user.username,
    nickname: user.nickname ?? '',
  };
}

export function resourceRoutes(app: FastifyInstance, ctx: DialectContext, family: Family): void {
  const { engine } = ctx;

  const fail = (req: FastifyRequest, reply: FastifyReply, err: unknown, endpoint: Endpoint, basic = false) => {
    if (!isProviderError(err)) throw err;
    req.log.info({ kind: err.kind, endpoint }, 'request refused');
    return sendWire(reply, toWire(err, family.name, endpoint, basic));
  };

  const userinfo = async (req: FastifyRequest, reply: FastifyReply) => {
    reply.header('cache-control', 'no-store');
    try {
      const params = collectParams(req, { query: false, body: req.method === 'POST' });
      const token = bearerToken(req, params);
      if (!token) throw new ProviderError('token_missing', 'Bearer token not found in the request');
      const hit = await engine.validateAccessToken(token);
      if (!hit) throw new ProviderError('invalid_token', 'invalid token');
      if (!hit.user || !hit.record.scope.includes('openid'))
        throw new ProviderError('insufficient_scope', 'the access token has no openid scope');
      const body = family.name === 'eiam' ? eiamUserinfo(hit.user) : engine.userClaims(hit.user, hit.record.scope);
      return sendJson(reply, 200, body);
    } catch (err) {
      return fail(req, reply, err, 'userinfo');
    }
  };
  app.get(family.paths.userinfo, userinfo);
  app.post(family.paths.userinfo, userinfo);

  const revoke = async (req: FastifyRequest, reply: FastifyReply) => {
    noStore(reply);
    let basic = false;
    try {
      const params = collectParams(req, { query: true, body: req.method === 'POST' });
      const creds = clientCredentials(req, params);
      basic = creds.basic;
      const client = engine.clients.authenticate(creds);
      if (!params.token) throw missing('token');
      const hint = params.token_type_hint;
      if (hint !== undefined && hint !== 'access_token' && hint !== 'refresh_token')
        throw new ProviderError('invalid_parameter', 'invalid token_type_hint', { param: 'token_type_hint' });
      await engine.revokeToken(params.token, client, hint);
      if (family.name === 'eiam') return sendJson(reply, 200, { success: 'ok', message: 'invalidate token success' });
      return reply.code(200).send();
    } catch (err) {
      return fail(req, reply, err, 'revoke', basic);
    }
  };
  app.post(family.paths.revoke, revoke);
  if (family.name === 'eiam') app.get(family.paths.revoke, revoke); // T7: EIAM documents GET

  app.post(family.paths.introspect, async (req, reply) => {
    noStore(reply);
    let basic = false;
    try {
      const params = collectParams(req, { query: false, body: true });
      const creds = clientCredentials(req, params);
      basic = creds.basic;
      const client = engine.clients.authenticate(creds);
      // RFC 7662 §2.1: the caller must be authorized; public clients hold no credential.
      if (client.isPublic) throw new ProviderError('invalid_client', 'client authentication failed', { cause: 'public client' });
      if (!params.token) throw missing('token');
      return sendJson(reply, 200, await engine.introspect(params.token, client));
    } catch (err) {
      return fail(req, reply, err, 'introspect', basic);
    }
  });
}
