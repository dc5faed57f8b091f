/**
 * Server-rendered provider pages: the login form (works without JavaScript) and a plain message
 * page (errors before a redirect is possible, signed out). Every dynamic value is HTML-escaped.
 */
import { escapeHtml as h } from './http.js';
import { texts, type Lang } from './i18n.js';

const STYLE = `body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f4f5f7;margin:0}
main{max-width:360px;margin:10vh auto;background:#fff;padding:32px;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:22px;margin:0 0 8px}p{color:#555}label{display:block;margin:16px 0 4px;font-size:14px}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:10px;border:1px solid #ccc;border-radius:4px;font-size:15px}
button{margin-top:24px;width:100%;padding:11px;border:0;border-radius:4px;background:#1f6feb;color:#fff;font-size:16px;cursor:pointer}
.error{background:#fdecea;color:#a4221b;padding:10px;border-radius:4px;margin-top:12px}`;

export function layout(lang: Lang, title: string, body: string): string {
  return `<!doctype html>
<html lang="${lang === 'zh' ? 'zh-CN' : 'en'}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${h(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

export interface LoginPageModel {
  lang: Lang;
  action: string;
  pState: string;
  csrf: string;
  clientName: string;
  username?: string;
  error?: string;
}

export function loginPage(m: LoginPageModel): string {
  const t = texts(m.lang);
  return layout(
    m.lang,
    t.title,
    `<h1>${h(t.heading)}</h1><p>${h(t.signInTo(m.clientName))}</p>
${m.error ? `<div class="error" role="alert" id="error">${h(m.error)}</div>` : ''}
<form method="post" action="${h(m.action)}" autocomplete="on">
<input type="hidden" name="p_state" value="${h(m.pState)}"><input type="hidden" name="csrf" value="${h(m.csrf)}">
<label for="username">${h(t.username)}</label>
<input type="text" id="username" name="username" value="${h(m.username ?? '')}" placeholder="${h(t.usernameHint)}" autocomplete="username" required autofocus>
<label for="password">${h(t.password)}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit" id="submit">${h(t.submit)}</button>
</form>`,
  );
}

export function messagePage(lang: Lang, title: string, message: string, detail?: string): string {
  return layout(lang, title, `<h1>${h(title)}</h1><p id="message">${h(message)}</p>${detail ? `<p><code>${h(detail)}</code></p>` : ''}`);
}
