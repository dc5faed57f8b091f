/**
 * The login page's second step (protocols.md §5.3; DESIGN.md §3 "a provider login page with the
 * SMS step"): after a correct password for a user who needs the SMS code, login.ts sends the
 * browser here (`GET {mount}/login/sms?p_state=…`). The first visit sends the code; the page asks
 * for it, with a resend button (server-enforced: once a minute, daily cap per phone). A failed
 * send is shown on the page, never a hang or a 500. The right code finishes the login like the
 * password page does (engine.completeLogin: new SSO session, code to the client); five wrong codes
 * end the step and the user signs in again. No JavaScript; zh/en; the same CSRF protection as the
 * password form (csrf.ts: the interaction's token signed with the browser's cookie secret, Origin checked).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isProviderError, type ProviderError } from '../../engine/errors.js';
import type { Interaction } from '../../engine/interactions.js';
import { SMS_STEP_PATH, type SmsMfa, type SmsStepState } from '../../engine/mfa/sms-mfa.js';
import { SSO_COOKIE, readCookie, setCookie } from './cookies.js';
import { formTokenValid, issueFormToken } from './csrf.js';
import { escapeHtml as h, htmlHeaders, type DialectContext } from './http.js';
import { pickLang, texts as loginTexts, type Lang } from './i18n.js';
import { layout } from './pages.js';
import { collectParams } from './params.js';

const TEXT = {
  zh: {
    title: '短信验证',
    heading: '短信验证',
    sentTo: (phone: string) => `验证码已发送至 ${phone}`,
    notSent: '验证码尚未发送',
    code: '验证码',
    submit: '验证',
    resend: '重新发送验证码',
    resendIn: (s: number) => `${s} 秒后可重新发送`,
    resent: '新的验证码已发送',
    wrongCode: (left: number) => `验证码错误，还可尝试 ${left} 次`,
    missingCode: '请输入短信验证码',
    expiredCode: '验证码已过期，请重新获取',
    tooManyWrong: '验证码错误次数过多，请重新登录',
    ended: '短信验证已过期，请重新登录',
    signInAgain: '重新登录',
    waitResend: (s: number) => `请等待 ${s} 秒后再获取新的验证码`,
    dailyLimit: '今日短信发送次数已达上限，请明天再试或联系管理员',
    sendFailed: '短信发送失败，请稍后点击“重新发送验证码”重试',
  },
  en: {
    title: 'SMS verification',
    heading: 'SMS verification',
    sentTo: (phone: string) => `We sent a code to ${phone}`,
    notSent: 'No code has been sent yet',
    code: 'Code',
    submit: 'Verify',
    resend: 'Send a new code',
    resendIn: (s: number) => `You can ask for a new code in ${s} seconds`,
    resent: 'A new code has been sent',
    wrongCode: (left: number) => `Wrong code. ${left} ${left === 1 ? 'attempt' : 'attempts'} left`,
    missingCode: 'Enter the code from the SMS',
    expiredCode: 'This code has expired. Ask for a new one',
    tooManyWrong: 'Too many wrong codes. Sign in again',
    ended: 'This verification has expired. Sign in again',
    signInAgain: 'Sign in again',
    waitResend: (s: number) => `Wait ${s} seconds before asking for a new code`,
    dailyLimit: 'Too many codes were sent to this phone today. Try again tomorrow or contact your administrator',
    sendFailed: 'The SMS could not be sent. Try "Send a new code" in a moment',
  },
} as const;

type SmsTexts = (typeof TEXT)['en'] | (typeof TEXT)['zh'];

interface PageModel {
  lang: Lang;
  action: string;
  resendAction: string;
  pState: string;
  csrf: string;
  state: SmsStepState;
  error?: string;
  notice?: string;
}

function smsPage(m: PageModel): string {
  const t = TEXT[m.lang];
  const hidden = `<input type="hidden" name="p_state" value="${h(m.pState)}"><input type="hidden" name="csrf" value="${h(m.csrf)}">`;
  return layout(
    m.lang,
    t.title,
    `<h1>${h(t.heading)}</h1><p id="sent-to">${h(m.state.challenge ? t.sentTo(m.state.sentTo) : t.notSent)}</p>
${m.notice ? `<p id="notice">${h(m.notice)}</p>` : ''}${m.error ? `<div class="error" role="alert" id="error">${h(m.error)}</div>` : ''}
<form method="post" action="${h(m.action)}" autocomplete="off">${hidden}
<label for="code">${h(t.code)}</label>
<input type="text" id="code" name="code" inputmode="numeric" pattern="[0-9]*" maxlength="6" autocomplete="one-time-code" required autofocus>
<button type="submit" id="submit">${h(t.submit)}</button>
</form>
<form method="post" action="${h(m.resendAction)}">${hidden}
<button type="submit" id="resend" style="background:#fff;color:#1f6feb;border:1px solid #1f6feb">${h(t.resend)}</button>
</form>
${m.state.resendIn > 0 ? `<p id="resend-in">${h(t.resendIn(m.state.resendIn))}</p>` : ''}`,
  );
}

/** The page a user whose SMS step is over (ended, expired) gets: a way back to the password form. */
function restartPage(lang: Lang, loginHref: string, message: string): string {
  const t = TEXT[lang];
  return layout(lang, t.title, `<h1>${h(t.heading)}</h1><div class="error" role="alert" id="error">${h(message)}</div><p><a id="restart" href="${h(loginHref)}">${h(t.signInAgain)}</a></p>`);
}

/** What the user reads for a refused send. */
function sendError(t: SmsTexts, err: ProviderError): string {
  if (err.kind === 'rate_limited')
    return err.detail === 'daily sms limit reached' ? t.dailyLimit : t.waitResend(Number(err.extra?.retry_after ?? 60));
  return t.sendFailed;
}

export function loginSmsRoutes(app: FastifyInstance, ctx: DialectContext, mfa: SmsMfa): void {
  const { engine } = ctx;
  const action = `${ctx.mount}${SMS_STEP_PATH}`;
  const resendAction = `${action}/resend`;
  const ssoMaxAge = engine.config.tokens.ssoTtl;

  const langOf = (req: FastifyRequest, ix?: Interaction | null): Lang => pickLang(req.headers['accept-language'], ix?.request.uiLocales);
  const loginHref = (ix: Interaction) => `${ctx.mount}/login?p_state=${encodeURIComponent(ix.id)}`;

  const message = (reply: FastifyReply, lang: Lang, status: number, key: 'expired' | 'badRequest' | 'formExpired') => {
    const t = loginTexts(lang);
    return htmlHeaders(reply.code(status)).send(layout(lang, t.errorTitle, `<h1>${h(t.errorTitle)}</h1><p id="message">${h(t[key])}</p>`));
  };

  const restart = (reply: FastifyReply, lang: Lang, ix: Interaction, text: string, status = 400) =>
    htmlHeaders(reply.code(status)).send(restartPage(lang, loginHref(ix), text));

  /** The code form; the success redirect goes to the client, so CSP's form-action allows its origin. */
  const page = (req: FastifyRequest, reply: FastifyReply, lang: Lang, ix: Interaction, state: SmsStepState, extra: { error?: string; notice?: string } = {}, status = 200) => {
    const csrf = issueFormToken(req, reply, ix, ctx.cookies);
    return htmlHeaders(reply.code(status), `'self' ${new URL(ix.request.redirectUri).origin}`).send(
      smsPage({ lang, action, resendAction, pState: ix.id, csrf, state, ...extra }),
    );
  };

  /** Sends a code; a refusal becomes the page's message instead of an error response. */
  const send = async (ix: Interaction): Promise<ProviderError | null> => {
    try {
      await mfa.challenge('interaction', ix.id, ix.request.clientId);
      return null;
    } catch (err) {
      if (isProviderError(err) && err.kind !== 'invalid_oob_code') return err;
      throw err;
    }
  };

  /** The interaction and its SMS step from a request, or the reply already sent. */
  const load = async (req: FastifyRequest, reply: FastifyReply, from: 'query' | 'body') => {
    let params: Record<string, string>;
    try {
      params = collectParams(req, { query: from === 'query', body: from === 'body' });
    } catch {
      return { done: message(reply, langOf(req), 400, 'badRequest') };
    }
    const ix = await engine.interactions.get(params.p_state);
    if (!ix) return { done: message(reply, langOf(req), 400, 'expired') };
    const lang = langOf(req, ix);
    if (from === 'body') {
      const origin = req.headers.origin;
      const ours = new URL(ctx.ciam.profile.issuer).origin;
      if (!formTokenValid(req, params.csrf, ix) || (origin !== undefined && origin !== ours))
        return { done: message(reply, lang, 403, 'formExpired') };
    }
    const state = await mfa.state(ix.id, ix.request.clientId);
    if (!state) return { done: restart(reply, lang, ix, TEXT[lang].ended) };
    return { ix, lang, state, params };
  };

  app.get(SMS_STEP_PATH, async (req, reply) => {
    const r = await load(req, reply, 'query');
    if ('done' in r) return r.done;
    const { ix, lang } = r;
    let { state } = r;
    let error: string | undefined;
    // The first visit sends the code; a reload shows the form without sending again.
    if (!state.challenge) {
      const refused = await send(ix);
      if (refused) error = sendError(TEXT[lang], refused);
      state = (await mfa.state(ix.id, ix.request.clientId)) ?? state;
    }
    const notice = r.params.resent === '1' && !error ? TEXT[lang].resent : undefined;
    return page(req, reply, lang, ix, state, { ...(error ? { error } : {}), ...(notice ? { notice } : {}) });
  });

  app.post(`${SMS_STEP_PATH}/resend`, async (req, reply) => {
    const r = await load(req, reply, 'body');
    if ('done' in r) return r.done;
    const { ix, lang } = r;
    const refused = await send(ix);
    if (!refused) return reply.redirect(`${action}?p_state=${encodeURIComponent(ix.id)}&resent=1`, 303);
    const state = (await mfa.state(ix.id, ix.request.clientId)) ?? r.state;
    return page(req, reply, lang, ix, state, { error: sendError(TEXT[lang], refused) }, refused.kind === 'rate_limited' ? 429 : 503);
  });

  app.post(SMS_STEP_PATH, async (req, reply) => {
    const r = await load(req, reply, 'body');
    if ('done' in r) return r.done;
    const { ix, lang, state, params } = r;
    const t = TEXT[lang];
    const code = (params.code ?? '').trim();
    if (!code) return page(req, reply, lang, ix, state, { error: t.missingCode });
    try {
      // The login page's challenge is bound to its p_state (see SmsMfa.challenge).
      const pending = await mfa.verify('interaction', ix.id, ix.request.clientId, ix.id, code.slice(0, 32));
      const user = await engine.directory.get(pending.uid);
      if (!user || user.status !== 'active') {
        ctx.metrics.logins.inc({ where: 'provider', outcome: 'abnormal_user_status' });
        return restart(reply, lang, ix, loginTexts(lang).abnormalStatus, 403);
      }
      const done = await engine.completeLogin(ix, user, ['pwd', 'sms', 'mfa'], readCookie(req.headers.cookie, SSO_COOKIE));
      ctx.metrics.logins.inc({ where: 'provider', outcome: 'success' });
      engine.log.info({ clientId: ix.request.clientId, sid: done.session.sid, amr: 'sms' }, 'provider login');
      // The CSRF cookie stays: other login tabs of this browser still need it (csrf.ts).
      reply.header('set-cookie', setCookie(SSO_COOKIE, done.cookie, ctx.cookies, ssoMaxAge));
      return reply.redirect(done.redirectTo, 303);
    } catch (err) {
      if (!isProviderError(err)) throw err;
      ctx.metrics.logins.inc({ where: 'provider', outcome: err.kind });
      if (err.kind === 'invalid_binding_code') {
        const left = Number(err.extra?.attempts_left ?? 0);
        if (left <= 0) return restart(reply, lang, ix, t.tooManyWrong);
        const now = (await mfa.state(ix.id, ix.request.clientId)) ?? state;
        return page(req, reply, lang, ix, now, { error: t.wrongCode(left) }, 400);
      }
      if (err.kind === 'invalid_oob_code') {
        const now = await mfa.state(ix.id, ix.request.clientId);
        if (!now) return restart(reply, lang, ix, t.tooManyWrong);
        return page(req, reply, lang, ix, now, { error: t.expiredCode }, 400);
      }
      if (err.kind === 'interaction_expired') return message(reply, lang, 400, 'expired');
      return message(reply, lang, 400, 'badRequest');
    }
  });
}
