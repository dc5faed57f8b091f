/**
 * Logout (protocols.md T8, §5.6). Both end the provider SSO session of the browser (revoking its
 * tokens and sending back-channel logout tokens, engine/logout.ts) and clear the cookie.
 *
 * CIAM GET|POST /logout: `client_id`, `logout_redirect_uri`, `state` (1441/64393), and also the
 *   OIDC RP-Initiated Logout 1.0 names `post_logout_redirect_uri` and `id_token_hint` (the gateway
 *   uses openid-client's buildEndSessionUrl). The client may come from the hint's `aud`. The
 *   redirect must be registered (or is the client's only one); without one a "signed out" page.
 * EIAM GET /auth/sso/logout?return_to=: an optional Bearer token is validated and revoked; 302 to
 *   return_to when some client registered it, else {"success":"ok","message":"Logout successfully"}.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JWTPayload } from 'jose';
import { redirectWith } from '../../engine/authorize.js';
import { ProviderError, isProviderError, missing } from '../../engine/errors.js';
import { isIdTokenPayload } from '../../engine/id-tokens.js';
import { SSO_COOKIE, clearCookie, readCookie } from './cookies.js';
import { toWire } from './errors.js';
import type { Family } from './families.js';
import { htmlHeaders, sendJson, sendWire, type DialectContext } from './http.js';
import { pickLang, texts } from './i18n.js';
import { messagePage } from './pages.js';
import { bearerToken, collectParams } from './params.js';

export function logoutRoutes(app: FastifyInstance, ctx: DialectContext, family: Family): void {
  const { engine } = ctx;

  /** Ends the browser's session (and `alsoSid`, when a validated token names another one). */
  const endBrowserSession = async (req: FastifyRequest, reply: FastifyReply, alsoSid?: string) => {
    const session = await engine.sessions.resolve(readCookie(req.headers.cookie, SSO_COOKIE));
    const sids = new Set([session?.sid, alsoSid].filter((s): s is string => !!s));
    for (const sid of sids) await engine.endSession(sid, family.profile.issuer);
    reply.header('set-cookie', clearCookie(SSO_COOKIE, ctx.cookies));
  };

  /**
   * id_token_hint: one of our id tokens for this browser; expired ones are fine (RP-Initiated
   * Logout §2). Only an id token: typ JWT and its claim shape, never an access token (at+jwt), a
   * logout token (logout+jwt) or the /sso identity token, which the same key signs.
   */
  const verifyHint = async (hint: string): Promise<JWTPayload> => {
    const refused = () => new ProviderError('invalid_parameter', 'invalid id_token_hint', { param: 'id_token_hint' });
    let payload: JWTPayload;
    try {
      payload = await engine.keys.verify(hint, { typ: 'JWT', clockTolerance: Number.MAX_SAFE_INTEGER, issuer: [ctx.ciam.profile.issuer, ctx.eiam.profile.issuer] });
    } catch {
      throw refused();
    }
    if (!isIdTokenPayload(payload)) throw refused();
    return payload;
  };

  if (family.name === 'ciam') {
    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      try {
        const params = collectParams(req, { query: true, body: req.method === 'POST' });
        const hint = params.id_token_hint ? await verifyHint(params.id_token_hint) : undefined;
        const hintAud = hint ? (Array.isArray(hint.aud) ? hint.aud[0] : hint.aud) : undefined;
        const clientId = params.client_id ?? hintAud;
        if (!clientId) throw missing('client_id');
        if (params.client_id && hintAud && params.client_id !== hintAud)
          throw new ProviderError('invalid_parameter', 'id_token_hint was issued to another client', { param: 'id_token_hint' });
        const client = engine.clients.get(clientId);
        if (!client) throw new ProviderError('invalid_parameter', 'invalid client_id', { param: 'client_id' });
        const asked = params.logout_redirect_uri ?? params.post_logout_redirect_uri;
        if (asked !== undefined && !client.postLogoutRedirectUris.includes(asked))
          throw new ProviderError('invalid_post_logout_redirect_uri', 'invalid logout_redirect_uri', { param: 'logout_redirect_uri' });
        const target = asked ?? (client.postLogoutRedirectUris.length === 1 ? client.postLogoutRedirectUris[0] : undefined);

        await endBrowserSession(req, reply, typeof hint?.sid === 'string' ? hint.sid : undefined);
        if (target) return reply.redirect(redirectWith(target, { state: params.state }), 302);
        const lang = pickLang(req.headers['accept-language']);
        const t = texts(lang);
        return htmlHeaders(reply.code(200)).send(messagePage(lang, t.signedOutTitle, t.signedOut));
      } catch (err) {
        if (!isProviderError(err)) throw err;
        return sendWire(reply, toWire(err, 'ciam', 'logout'));
      }
    };
    app.get(family.paths.logout, handler);
    app.post(family.paths.logout, handler);
    return;
  }

  app.get(family.paths.logout, async (req, reply) => {
    try {
      const params = collectParams(req, { query: true, body: false });
      const token = bearerToken(req, {});
      let tokenSid: string | undefined;
      if (token) {
        const hit = await engine.validateAccessToken(token);
        if (!hit) throw new ProviderError('invalid_token', 'invalid token');
        const key = await engine.accessTokens.keyOf(token);
        if (key) await engine.accessTokens.revoke(key);
        tokenSid = hit.record.sid;
      }
      await endBrowserSession(req, reply, tokenSid);
      const returnTo = params.return_to;
      if (returnTo && engine.clients.findByPostLogoutUri(returnTo)) return reply.redirect(returnTo, 302);
      return sendJson(reply, 200, { success: 'ok', message: 'Logout successfully' });
    } catch (err) {
      if (!isProviderError(err)) throw err;
      return sendWire(reply, toWire(err, 'eiam', 'logout'));
    }
  });
}
