/**
 * A real login through the gateway, over HTTP, the way a browser without JavaScript does it:
 * request a protected URL, follow the redirects to the provider's login page, post the form,
 * follow the redirects back through /_menshen/callback, and keep the cookies on the way.
 * Returns the session cookie (`name=value`) the gateway set. Only ever talks to 127.0.0.1.
 */

export class LoginError extends Error {
  constructor(step: string, detail: string) {
    super(`benchmark login failed at ${step}: ${detail}`);
    this.name = 'LoginError';
  }
}

class CookieJar {
  private readonly jar = new Map<string, string>();

  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const gone = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (gone) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  header(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get(name: string): string | undefined {
    return this.jar.get(name);
  }
}

const decodeEntities = (s: string) =>
  s.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);

/** The login form of a page: its action and its fields (hidden ones with their values). */
function loginForm(html: string, pageUrl: URL): { action: URL; fields: Record<string, string> } | null {
  const form = /<form\b[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form || !/type="password"/i.test(form[1]!)) return null;
  const actionAttr = /\baction="([^"]*)"/i.exec(form[0])?.[1];
  const action = new URL(decodeEntities(actionAttr ?? ''), pageUrl);
  const fields: Record<string, string> = {};
  for (const input of form[1]!.matchAll(/<input\b[^>]*>/gi)) {
    const name = /\bname="([^"]*)"/i.exec(input[0])?.[1];
    if (!name) continue;
    fields[decodeEntities(name)] = decodeEntities(/\bvalue="([^"]*)"/i.exec(input[0])?.[1] ?? '');
  }
  return { action, fields };
}

function local(url: URL, step: string): URL {
  if (url.hostname !== '127.0.0.1') throw new LoginError(step, `refusing to follow ${url.origin}: benchmarks stay on 127.0.0.1`);
  return url;
}

export async function loginThroughGateway(
  gatewayUrl: string,
  path: string,
  credentials: { username: string; password: string },
  sessionCookieName: string,
): Promise<string> {
  const jar = new CookieJar();
  let url = local(new URL(path, gatewayUrl), 'start');
  let method: 'GET' | 'POST' = 'GET';
  let body: string | undefined;
  let posted = false;
  for (let hop = 0; hop < 20; hop++) {
    const res = await fetch(url, {
      method,
      redirect: 'manual',
      headers: {
        accept: 'text/html',
        cookie: jar.header(),
        ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(body !== undefined ? { body } : {}),
    });
    jar.take(res);
    const text = await res.text();
    method = 'GET';
    body = undefined;
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      if (!location) throw new LoginError(url.pathname, `${res.status} without Location`);
      url = local(new URL(location, url), url.pathname);
      continue;
    }
    if (res.status !== 200) throw new LoginError(url.pathname, `status ${res.status}: ${text.slice(0, 200)}`);
    const form = loginForm(text, url);
    if (form) {
      if (posted) throw new LoginError(url.pathname, 'the login page came back after posting the password');
      posted = true;
      form.fields.username = credentials.username;
      form.fields.password = credentials.password;
      url = local(form.action, 'login form');
      method = 'POST';
      body = new URLSearchParams(form.fields).toString();
      continue;
    }
    const session = jar.get(sessionCookieName);
    if (!session) throw new LoginError(url.pathname, 'reached a page without a session cookie');
    return `${sessionCookieName}=${session}`;
  }
  throw new LoginError(url.pathname, 'too many redirects');
}
