/** The provider pages in Chinese and English, chosen by Accept-Language (or ui_locales). */

export type Lang = 'zh' | 'en';

const TEXT = {
  zh: {
    title: '登录',
    heading: '登录',
    signInTo: (app: string) => `登录以继续访问 ${app}`,
    username: '用户名',
    usernameHint: '用户名、手机号或邮箱',
    password: '密码',
    submit: '登录',
    wrongCredentials: '用户名或密码错误',
    abnormalStatus: '账号状态异常，请稍后再试或联系管理员',
    unsupportedIdentifier: '不支持使用该类型的账号登录',
    missingFields: '请输入用户名和密码',
    expired: '登录已过期，请返回应用重新登录',
    formExpired: '页面已过期，请刷新后重试',
    errorTitle: '出错了',
    badRequest: '请求无效',
    signedOut: '您已退出登录',
    signedOutTitle: '已退出',
  },
  en: {
    title: 'Sign in',
    heading: 'Sign in',
    signInTo: (app: string) => `Sign in to continue to ${app}`,
    username: 'Username',
    usernameHint: 'Username, phone number or email',
    password: 'Password',
    submit: 'Sign in',
    wrongCredentials: 'Wrong username or password',
    abnormalStatus: 'This account is unavailable. Try again later or contact your administrator',
    unsupportedIdentifier: 'This kind of username is not accepted here',
    missingFields: 'Enter your username and password',
    expired: 'This sign-in has expired. Go back to the application and start again',
    formExpired: 'This page has expired. Reload it and try again',
    errorTitle: 'Error',
    badRequest: 'Invalid request',
    signedOut: 'You have been signed out',
    signedOutTitle: 'Signed out',
  },
} as const;

export type Texts = (typeof TEXT)['en'] | (typeof TEXT)['zh'];

export function texts(lang: Lang): Texts {
  return TEXT[lang];
}

/**
 * The language: ui_locales (OIDC Core §3.1.2.1) first, then Accept-Language by q-value
 * (RFC 9110 §12.5.4); anything neither Chinese nor English gets English.
 */
export function pickLang(acceptLanguage: string | undefined, uiLocales?: string): Lang {
  for (const tag of (uiLocales ?? '').split(' ')) {
    const t = tag.toLowerCase();
    if (t.startsWith('zh')) return 'zh';
    if (t.startsWith('en')) return 'en';
  }
  const ranked = (acceptLanguage ?? '')
    .slice(0, 512)
    .split(',')
    .map((part, i) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)).find(Boolean);
      return { tag: (tag ?? '').toLowerCase(), q: q ? Number(q[1]) : 1, i };
    })
    .filter((x) => x.tag && x.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { tag } of ranked) {
    if (tag.startsWith('zh')) return 'zh';
    if (tag.startsWith('en')) return 'en';
  }
  return 'en';
}
