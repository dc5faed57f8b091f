/**
 * Ending sessions (gateway-lessons #4, §5.7).
 *
 * `POST /_menshen/logout`: ends the gateway session, revokes its refresh token at the issuer
 * (RFC 7009, best effort), clears the cookie, then sends the browser through RP-initiated logout
 * at the issuer (OIDC RP-Initiated Logout 1.0) with id_token_hint and post_logout_redirect_uri =
 * `rd` (form field or query) when it is same-origin, else the public home page (the issuer only
 * honours post-logout URIs registered for the client). API callers get 200 JSON instead.
 * Cross-site requests are refused (403): an Origin other than the gateway's, or Sec-Fetch-Site
 * other than same-origin/none. A request without either (curl, API clients) is not a browser's.
 *
 * `GET /_menshen/logout` only shows a confirmation page whose button POSTs: a GET is what any
 * other site can make a browser send (a link, an <img>, and the SameSite=Lax cookie goes along
 * on top-level navigations), so it must not end a session.
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
import { AccessDenied, BadRequest, IssuerUnavailable, escapeHtml, isBrowserRequest, sendGatewayError } from './errors.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Logout tokens older than this are refused; the jti replay cache keeps entries this long. */
const MAX_LOGOUT_TOKEN_AGE_SECONDS = 600;

/** The logout page: nothing to load, nothing to frame, no script; its one form posts back here. */
const PAGE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** `rd` from a logout form body or the query string. */
function returnTarget(req: FastifyRequest): string | undefined {
  const body = req.body as Record<string, unknown> | undefined;
  if (body && typeof body === 'object' && typeof body.rd === 'string') return body.rd;
  const q = req.query as Record<string, unknown>;
  return typeof q.rd === 'string' ? q.rd : undefined;
}

/** Why a logout POST is cross-site, or null when it is not (see the module comment). */
function crossSiteProblem(gw: Gateway, req: FastifyRequest): string | null {
  const site = one(req.headers['sec-fetch-site']);
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `a ${site} request cannot log out`;
  const origin = one(req.headers.origin);
  if (origin === undefined) return null;
  const peer = req.socket.remoteAddress;
  const encrypted = 'encrypted' in req.socket && req.socket.encrypted === true;
  const own = `${gw.trust.requestProto(peer, req.headers, encrypted)}://${gw.trust.requestHost(peer, req.headers)}`;
  return origin === new URL(gw.publicUrl).origin || origin === own ? null : 'a cross-origin request cannot log out';
}

/** GET /_menshen/logout: the confirmation page (the action is POST only). */
export function logoutPageHandler(gw: Gateway) {
  return async function logoutPage(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const rd = returnTarget(req);
    const back = rd === undefined ? null : gw.login.safeReturn(rd);
    const hidden = back ? `<input type="hidden" name="rd" value="${escapeHtml(back)}">` : '';
    const host = escapeHtml(new URL(gw.publicUrl).host);
    return reply
      .header('cache-control', 'no-store')
      .header('content-security-policy', PAGE_CSP)
      .header('x-frame-options', 'DENY')
      .type('text/html; charset=utf-8')
      .send(
        `<!doctype html><html><head><meta charset="utf-8"><title>Sign out</title></head><body><h1>Sign out</h1>` +
          `<p>Sign out of ${host}?</p><form method="post" action="/_menshen/logout">${hidden}<button type="submit" name="logout" value="yes">Sign out</button></form></body></html>`,
      );
  };
}

export function logoutHandler(gw: Gateway) {
  return async function logout(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    try {
      const crossSite = crossSiteProblem(gw, req);
      if (crossSite) {
        req.log.warn({ origin: one(req.headers.origin), site: one(req.headers['sec-fetch-site']) }, 'cross-site logout refused');
        throw new AccessDenied(crossSite);
      }
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
      const back = gw.login.safeReturn(returnTarget(req));
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
      if ((await gw.kv.get(replayKey)) !== null) throw new BadRequest('logout_token was already used');
      const ended = await gw.sessions.destroyAllOf(sid ? { psid: sid } : { sub: sub! });
      // The jti is spent only once the sessions are gone: if ending them failed (503), the OP's
      // retry of the same token must still work. Two deliveries racing both end the same
      // sessions, which is harmless; a replay after this is refused above.
      await gw.kv.setIfAbsent(replayKey, '1', Math.max(MAX_LOGOUT_TOKEN_AGE_SECONDS, exp) + 60);
      if (ended) gw.metrics.sessions.inc({ event: 'ended' }, ended);
      req.log.info({ ended, by: sid ? 'sid' : 'sub' }, 'back-channel logout');
      return reply.code(200).send();
    } catch (err) {
      if (err instanceof BadRequest) return reply.code(400).send({ error: 'invalid_request', error_description: err.message });
      return sendGatewayError(err, req, reply, gw.errors);
    }
  };
}
