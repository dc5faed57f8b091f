/**
 * Ending sessions (gateway-lessons #4, §5.7).
 *
 * `/_menshen/logout` (GET or POST): ends the gateway session, revokes its refresh token at the
 * issuer (RFC 7009, best effort), clears the cookie, then sends the browser through RP-initiated
 * logout at the issuer (OIDC RP-Initiated Logout 1.0) with id_token_hint and
 * post_logout_redirect_uri = `?rd=` when it is same-origin, else the public home page (the issuer
 * only honours post-logout URIs registered for the client). API callers get 200 JSON instead.
 *
 * `/_menshen/backchannel-logout` (POST, form `logout_token`): OIDC Back-Channel Logout 1.0 §2.6:
 * a JWT signed by the issuer (its JWKS), iss, aud containing our client_id, iat, jti, the
 * back-channel-logout member in `events`, `sid` and/or `sub`, and NO `nonce` (so an id token
 * cannot pass as a logout token). A jti is accepted once (replay cache in the store: MAO's fix).
 * Ends every gateway session of that provider `sid`, or of that `sub` when no sid is given.
 * 200 on success, 400 `{"error":"invalid_request"}` otherwise (§2.8), 503 when the issuer's keys
 * or the store cannot be reached (the OP may retry).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors as joseErrors } from 'jose';
import { hashHandle } from '../crypto/secrets.js';
import { epochSeconds } from '../clock.js';
import type { Gateway } from './gateway.js';
import { BadRequest, IssuerUnavailable, isBrowserRequest, sendGatewayError } from './errors.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Logout tokens older than this are refused; the jti replay cache keeps entries this long. */
const MAX_LOGOUT_TOKEN_AGE_SECONDS = 600;

export function logoutHandler(gw: Gateway) {
  return async function logout(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    try {
      const { ticket } = gw.cookies.read(req.headers.cookie);
      const session = ticket ? await gw.sessions.load(ticket) : null;
      if (session) {
        await gw.sessions.destroy(session);
        gw.metrics.sessions.inc({ event: 'ended' });
      }
      reply.header('set-cookie', gw.cookies.clearSession()).header('cache-control', 'no-store');
      if (session?.data.rt) {
        await gw.rp.revoke(session.data.rt, 'refresh_token').catch((err: unknown) => {
          req.log.warn({ err: (err as Error).message }, 'refresh token revocation failed');
        });
      }
      const q = req.query as Record<string, unknown>;
      const back = gw.login.safeReturn(typeof q.rd === 'string' ? q.rd : undefined);
      const endSession = session
        ? await gw.rp.endSessionUrl({ ...(session.data.idt ? { idTokenHint: session.data.idt } : {}), postLogoutRedirectUri: back })
        : null;
      const next = endSession ?? back;
      if (isBrowserRequest(req.headers)) return reply.redirect(next, 302);
      return reply.code(200).send({ status: 'logged_out', redirect: next });
    } catch (err) {
      return sendGatewayError(err, req, reply, gw.errors);
    }
  };
}

export function backchannelLogoutHandler(gw: Gateway) {
  return async function backchannelLogout(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    reply.header('cache-control', 'no-store');
    try {
      const body = req.body as Record<string, unknown> | undefined;
      const token = body && typeof body.logout_token === 'string' ? body.logout_token : '';
      if (!token) throw new BadRequest('logout_token is required');
      let claims: Record<string, unknown>;
      try {
        claims = await gw.rp.verifyJwt(token, {
          audience: gw.rp.clientId,
          requiredClaims: ['iat', 'jti', 'events'],
          maxTokenAge: MAX_LOGOUT_TOKEN_AGE_SECONDS,
        });
      } catch (err) {
        if (err instanceof IssuerUnavailable) throw err;
        if (err instanceof TypeError || err instanceof joseErrors.JWKSTimeout) throw new IssuerUnavailable('identity provider keys unavailable', { cause: err });
        throw new BadRequest('logout_token does not verify', { cause: err });
      }
      const events = claims.events as Record<string, unknown> | undefined;
      const event = events && typeof events === 'object' ? events[BACKCHANNEL_LOGOUT_EVENT] : undefined;
      if (!event || typeof event !== 'object') throw new BadRequest('logout_token lacks the back-channel logout event');
      if ('nonce' in claims) throw new BadRequest('logout_token must not contain a nonce');
      const sid = typeof claims.sid === 'string' && claims.sid ? claims.sid : undefined;
      const sub = typeof claims.sub === 'string' && claims.sub ? claims.sub : undefined;
      if (!sid && !sub) throw new BadRequest('logout_token names neither sid nor sub');
      if (typeof claims.jti !== 'string' || !claims.jti) throw new BadRequest('logout_token lacks a jti');
      const replayKey = `gw:bcl:${hashHandle(`${String(claims.iss)} ${claims.jti}`)}`;
      const exp = typeof claims.exp === 'number' ? claims.exp - epochSeconds(gw.clock) : 0;
      if (!(await gw.kv.setIfAbsent(replayKey, '1', Math.max(MAX_LOGOUT_TOKEN_AGE_SECONDS, exp) + 60)))
        throw new BadRequest('logout_token was already used');
      const ended = await gw.sessions.destroyAllOf(sid ? { psid: sid } : { sub: sub! });
      if (ended) gw.metrics.sessions.inc({ event: 'ended' }, ended);
      req.log.info({ ended, by: sid ? 'sid' : 'sub' }, 'back-channel logout');
      return reply.code(200).send();
    } catch (err) {
      if (err instanceof BadRequest) return reply.code(400).send({ error: 'invalid_request', error_description: err.message });
      return sendGatewayError(err, req, reply, gw.errors);
    }
  };
}
