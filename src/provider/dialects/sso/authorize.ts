/**
 * GET /sso/oauth2/ (also without the trailing slash; protocols.md §3 Q1, seed 003): response_type
 * = code, client_id, state, redirect_uri (one QingCloud page spells it `redirect_url`: accepted).
 * The same machinery as the Tencent authorize endpoints: the engine's decision (a live provider SSO
 * session issues a code at once, otherwise the shared login page with its SMS step), the same SSO
 * cookie. QingCloud sends no `scope`: it defaults to `openid`. Codes issued here carry the `sso`
 * dialect and are redeemed only at /sso/token/.
 * Errors about the client or the redirect URI are answered 400 JSON (never redirected, RFC 6749
 * §4.1.2.1); the rest go back to the redirect URI.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { checkResponseType, parseAuthorizationRequest, redirectWith, resolveClientAndRedirect } from '../../engine/authorize.js';
import { isProviderError, invalid } from '../../engine/errors.js';
import { authorizeRedirect, echoedState } from '../oidc/authorize.js';
import { ssoRedirectError, toSsoWire } from './errors.js';
import { bothSlashes, sendSsoError, type SsoContext } from './http.js';
import { ssoParams } from './params.js';

export function ssoAuthorizeRoutes(app: FastifyInstance, sso: SsoContext): void {
  const { dialect: ctx, profile } = sso;
  const { engine } = ctx;

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    let params: Record<string, string>;
    let target: ReturnType<typeof resolveClientAndRedirect>;
    try {
      params = ssoParams(req, { body: false });
      if (params.redirect_url !== undefined) {
        if (params.redirect_uri !== undefined && params.redirect_uri !== params.redirect_url) throw invalid('redirect_uri', 'redirect_uri and redirect_url differ');
        params.redirect_uri = params.redirect_url;
      }
      params.scope ??= 'openid';
      target = resolveClientAndRedirect(engine.clients, profile, params);
      checkResponseType(target.client, params);
    } catch (err) {
      if (isProviderError(err)) return sendSsoError(reply, toSsoWire(err, 'authorize'));
      throw err;
    }
    const state = echoedState(params);
    try {
      const request = parseAuthorizationRequest(target.client, target, profile, params);
      return reply.redirect(await authorizeRedirect(ctx, req, request), 302);
    } catch (err) {
      if (!isProviderError(err)) throw err;
      return reply.redirect(redirectWith(target.redirectUri, { ...ssoRedirectError(err), state }), 302);
    }
  };
  for (const path of bothSlashes('/sso/oauth2/')) app.get(path, handler);
}
