/**
 * GET|POST {family}/oauth2/authorize (protocols.md T1). Errors about the client or redirect URI are
 * never redirected (RFC 6749 §4.1.2.1): CIAM shows a 400 page (its documented bare 400), EIAM answers
 * its documented 400 JSON. Everything else goes back to the redirect URI. With a live provider SSO
 * session the code is issued at once; otherwise the browser goes to the login page with `p_state`.
 * EIAM alone also serves `response_type=token` (implicit, 1442/62417) to clients that list the
 * `implicit` grant: the access token and any later error travel in the fragment (engine/implicit.ts
 * says why not the query EIAM's page shows).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseAuthorizationRequest, redirectWith, resolveClientAndRedirect, type AuthorizationRequest } from '../../engine/authorize.js';
import { isProviderError, type ProviderError } from '../../engine/errors.js';
import { fragmentWith, responseTypeOf } from '../../engine/implicit.js';
import { SSO_COOKIE, readCookie } from './cookies.js';
import { redirectError, toWire } from './errors.js';
import type { Family } from './families.js';
import { htmlHeaders, sendWire, type DialectContext } from './http.js';
import { pickLang, texts } from './i18n.js';
import { messagePage } from './pages.js';
import { collectParams } from './params.js';

export function loginPath(ctx: DialectContext, pState: string): string {
  return `${ctx.mount}/login?p_state=${encodeURIComponent(pState)}`;
}

/** The client's `state`, echoed on an error redirect unless it is over 2,048 characters. */
export function echoedState(params: Record<string, string>): string | undefined {
  return params.state !== undefined && params.state.length <= 2048 ? params.state : undefined;
}

/**
 * Where a valid authorization request sends the browser: back to the client with a code at once
 * when the provider SSO cookie names a live session, else to the login page. The sso dialect's
 * authorize endpoint shares this (same login page, same SSO cookie).
 */
export async function authorizeRedirect(ctx: DialectContext, req: FastifyRequest, request: AuthorizationRequest): Promise<string> {
  const decision = await ctx.engine.authorizeDecision(request, readCookie(req.headers.cookie, SSO_COOKIE));
  if (decision.action === 'issue') return ctx.engine.issueCode(request, decision.session);
  const ix = await ctx.engine.beginLogin(request);
  return loginPath(ctx, ix.id);
}

function refuse(req: FastifyRequest, reply: FastifyReply, family: Family, err: ProviderError): FastifyReply {
  if (family.name === 'eiam') return sendWire(reply, toWire(err, 'eiam', 'authorize'));
  const lang = pickLang(req.headers['accept-language']);
  const t = texts(lang);
  return htmlHeaders(reply.code(400)).send(messagePage(lang, t.errorTitle, t.badRequest, err.detail));
}

export function authorizeRoutes(app: FastifyInstance, ctx: DialectContext, family: Family): void {
  const { engine } = ctx;
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    let params: Record<string, string>;
    let target: ReturnType<typeof resolveClientAndRedirect>;
    let responseType: 'code' | 'token';
    try {
      params = collectParams(req, { query: true, body: req.method === 'POST' });
      target = resolveClientAndRedirect(engine.clients, family.profile, params);
      responseType = responseTypeOf(target.client, params, family.name === 'eiam');
    } catch (err) {
      if (isProviderError(err)) return refuse(req, reply, family, err);
      throw err;
    }
    const state = echoedState(params);
    // A redirect carrying an access token must not be stored by any cache (RFC 6749 §4.2.2, §10.3).
    if (responseType === 'token') reply.header('cache-control', 'no-store');
    try {
      const request = parseAuthorizationRequest(target.client, target, family.profile, params, responseType);
      return reply.redirect(await authorizeRedirect(ctx, req, request), 302);
    } catch (err) {
      if (!isProviderError(err)) throw err;
      const back = responseType === 'token' ? fragmentWith : redirectWith; // §4.2.2.1 / §4.1.2.1
      return reply.redirect(back(target.redirectUri, { ...redirectError(err), state }), 302);
    }
  };
  app.get(family.paths.authorize, handler);
  app.post(family.paths.authorize, handler);
}
