/**
 * The provider login page, GET|POST {mount}/login?p_state=... : username + password, no JavaScript,
 * Chinese or English. The form is CSRF-protected twice: its token must be the interaction's token
 * signed with the browser's secret from a SameSite=Lax cookie (csrf.ts; a cross-site POST has
 * neither), and a present Origin header must be the provider's. Wrong credentials re-render the form with the message; a
 * success starts a new provider SSO session and redirects (303) to the client with a code, unless
 * the second-factor hook takes over first.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ProviderError, isProviderError, type ProviderErrorKind } from '../../engine/errors.js';
import type { Interaction } from '../../engine/interactions.js';
import { SSO_COOKIE, readCookie, setCookie } from './cookies.js';
import { formTokenValid, issueFormToken } from './csrf.js';
import { htmlHeaders, type DialectContext } from './http.js';
import { pickLang, texts, type Lang, type Texts } from './i18n.js';
import { loginPage, messagePage } from './pages.js';
import { collectParams } from './params.js';

const MESSAGES: Partial<Record<ProviderErrorKind, keyof Texts>> = {
  wrong_credentials: 'wrongCredentials',
  abnormal_user_status: 'abnormalStatus',
  unsupported_identifier: 'unsupportedIdentifier',
};

export function loginRoutes(app: FastifyInstance, ctx: DialectContext): void {
  const { engine } = ctx;
  const action = `${ctx.mount}/login`;
  const ssoMaxAge = engine.config.tokens.ssoTtl;

  const langOf = (req: FastifyRequest, ix?: Interaction | null): Lang => pickLang(req.headers['accept-language'], ix?.request.uiLocales);

  const message = (reply: FastifyReply, lang: Lang, status: number, key: keyof Texts) => {
    const t = texts(lang);
    return htmlHeaders(reply.code(status)).send(messagePage(lang, t.errorTitle, t[key] as string));
  };

  /** The form; the redirect to the client is a form-action target, so CSP must allow its origin. */
  const form = (req: FastifyRequest, reply: FastifyReply, lang: Lang, ix: Interaction, extra: { username?: string; error?: string } = {}) => {
    const client = engine.clients.get(ix.request.clientId);
    const csrf = issueFormToken(req, reply, ix, ctx.cookies);
    return htmlHeaders(reply, `'self' ${new URL(ix.request.redirectUri).origin}`).send(
      loginPage({ lang, action, pState: ix.id, csrf, clientName: client?.name ?? ix.request.clientId, ...extra }),
    );
  };

  app.get('/login', async (req, reply) => {
    let params: Record<string, string>;
    try {
      params = collectParams(req, { query: true, body: false });
    } catch {
      return message(reply, langOf(req), 400, 'badRequest');
    }
    const ix = await engine.interactions.get(params.p_state);
    if (!ix) return message(reply, langOf(req), 400, 'expired');
    return form(req, reply, langOf(req, ix), ix, params.login_hint ? { username: params.login_hint } : ix.request.loginHint ? { username: ix.request.loginHint } : {});
  });

  app.post('/login', async (req, reply) => {
    let params: Record<string, string>;
    try {
      params = collectParams(req, { query: false, body: true });
    } catch {
      return message(reply, langOf(req), 400, 'badRequest');
    }
    const ix = await engine.interactions.get(params.p_state);
    if (!ix) return message(reply, langOf(req), 400, 'expired');
    const lang = langOf(req, ix);
    const origin = req.headers.origin;
    const ours = new URL(ctx.ciam.profile.issuer).origin;
    if (!formTokenValid(req, params.csrf, ix) || (origin !== undefined && origin !== ours))
      return message(reply, lang, 403, 'formExpired');

    const username = params.username ?? '';
    if (!username || !params.password) return form(req, reply, lang, ix, { username, error: texts(lang).missingFields });
    const client = engine.clients.get(ix.request.clientId);
    if (!client) return message(reply, lang, 400, 'expired');
    try {
      if (username.length > 256 || params.password.length > 1024) throw new ProviderError('wrong_credentials', 'Wrong username or password', { cause: 'oversized credentials' });
      const source = engine.authSources.resolve(client, ix.request.authSourceId);
      const user = await engine.passwords.verify({ login: username, password: params.password, ip: req.ip, source });
      if (await engine.secondFactor.required(user, client)) {
        const next = await engine.secondFactor.beginInteraction({ user, client, interactionId: ix.id, request: ix.request });
        return reply.redirect(`${ctx.mount}${next}`, 303);
      }
      const done = await engine.completeLogin(ix, user, ['pwd'], readCookie(req.headers.cookie, SSO_COOKIE));
      ctx.metrics.logins.inc({ where: 'provider', outcome: 'success' });
      engine.log.info({ clientId: client.id, sid: done.session.sid }, 'provider login');
      // The CSRF cookie stays: other login tabs of this browser still need it (csrf.ts).
      reply.header('set-cookie', setCookie(SSO_COOKIE, done.cookie, ctx.cookies, ssoMaxAge));
      return reply.redirect(done.redirectTo, 303);
    } catch (err) {
      const key = isProviderError(err) ? MESSAGES[err.kind] : undefined;
      if (key && isProviderError(err)) {
        ctx.metrics.logins.inc({ where: 'provider', outcome: err.kind });
        return form(req, reply, lang, ix, { username, error: texts(lang)[key] as string });
      }
      if (isProviderError(err)) return message(reply, lang, 400, err.kind === 'interaction_expired' ? 'expired' : 'badRequest');
      throw err;
    }
  });
}
