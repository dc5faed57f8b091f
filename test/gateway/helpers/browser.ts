/**
 * A minimal browser for HTTP-level tests: a cookie jar (cookies belong to a host name, not a port,
 * as in real browsers, and are sent under their Path), manual redirect following, Accept: text/html
 * navigations. Chromium drives the end-to-end browser tests; everything else uses this to stay fast.
 * A transport other than fetch can be given (e.g. fastify inject, for an app that does not listen).
 */
export type RequestOptions = Omit<RequestInit, 'headers'> & { headers?: Record<string, string> };
export type Transport = (url: string, init: RequestOptions & { headers: Record<string, string> }) => Promise<Response>;

interface StoredCookie {
  value: string;
  path: string;
}

export interface Page {
  res: Response;
  url: string;
  status: number;
  body: string;
}

export class Browser {
  /** host -> cookie name -> value and path */
  readonly jar = new Map<string, Map<string, StoredCookie>>();
  /** Every URL requested, in order (to see the redirect chain). */
  readonly visited: string[] = [];

  constructor(private readonly transport: Transport = (url, init) => fetch(url, init)) {}

  cookieHeader(url: string): string | undefined {
    const u = new URL(url);
    const cookies = [...(this.jar.get(u.hostname) ?? [])].filter(([, c]) => u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`));
    if (cookies.length === 0) return undefined;
    return cookies.map(([k, c]) => `${k}=${c.value}`).join('; ');
  }

  cookie(url: string, name: string): string | undefined {
    return this.jar.get(new URL(url).hostname)?.get(name)?.value;
  }

  setCookie(url: string, name: string, value: string, path = '/'): void {
    const host = new URL(url).hostname;
    if (!this.jar.has(host)) this.jar.set(host, new Map());
    this.jar.get(host)!.set(name, { value, path });
  }

  deleteCookie(url: string, name: string): void {
    this.jar.get(new URL(url).hostname)?.delete(name);
  }

  private store(url: string, res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const path = attrs.map((a) => a.trim().split('=')).find(([k]) => k!.toLowerCase() === 'path')?.[1] ?? '/';
      const expired = attrs.some((a) => {
        const [k, v] = a.trim().split('=');
        if (k!.toLowerCase() === 'max-age') return Number(v) <= 0;
        if (k!.toLowerCase() === 'expires') return new Date(v!).getTime() <= Date.now();
        return false;
      });
      if (expired || value === '') this.deleteCookie(url, name);
      else this.setCookie(url, name, value, path);
    }
  }

  /** One request, no redirect following; cookies sent and stored. */
  async request(url: string, init: RequestOptions = {}): Promise<Response> {
    const cookie = this.cookieHeader(url);
    this.visited.push(url);
    const res = await this.transport(url, {
      ...init,
      redirect: 'manual',
      headers: { accept: 'text/html,application/xhtml+xml', ...(cookie ? { cookie } : {}), ...init.headers },
    });
    this.store(url, res);
    return res;
  }

  /** Follows redirects like a browser (303 and 302 after POST become GET). */
  async navigate(url: string, init: RequestOptions = {}, maxHops = 20): Promise<Page> {
    let current = url;
    let req = init;
    for (let hop = 0; hop < maxHops; hop++) {
      const res = await this.request(current, req);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer();
        current = new URL(location, current).href;
        if (res.status === 303 || ((res.status === 302 || res.status === 301) && req.method && req.method !== 'GET')) {
          const { 'content-type': _dropped, ...headers } = init.headers ?? {};
          req = { headers };
        }
        continue;
      }
      return { res, url: current, status: res.status, body: await res.text() };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /** Submits a form (urlencoded POST) and follows the redirects. */
  submit(url: string, fields: Record<string, string>): Promise<Page> {
    return this.navigate(url, {
      method: 'POST',
      body: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }

  /**
   * Fills and submits the first form of a page: its hidden inputs plus `fields` (the built-in
   * provider's login form carries p_state and csrf).
   */
  fillForm(page: Page, fields: Record<string, string>): Promise<Page> {
    const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(page.body);
    if (!form) throw new Error(`no form on ${page.url}: ${page.body.slice(0, 300)}`);
    const hidden: Record<string, string> = {};
    for (const m of form[2]!.matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
      const name = /name="([^"]*)"/.exec(m[0])?.[1];
      const value = /value="([^"]*)"/.exec(m[0])?.[1] ?? '';
      if (name) hidden[name] = value.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
    }
    const action = new URL(form[1]!.replace(/&amp;/g, '&'), page.url).href;
    return this.submit(action, { ...hidden, ...fields });
  }

  /**
   * Opens `url` on the gateway and signs in at the test issuer's form as `username` if asked to;
   * returns the page the browser lands on afterwards.
   */
  async login(url: string, username: string): Promise<Page> {
    const page = await this.navigate(url);
    if (!/\/interaction\//.test(page.url)) return page;
    return this.submit(page.url, { login: username });
  }
}
