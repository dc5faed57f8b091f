/**
 * A minimal browser for HTTP-level tests: a cookie jar (cookies belong to a host name, not a port,
 * as in real browsers), manual redirect following, Accept: text/html navigations. Chromium drives
 * the one end-to-end browser test; everything else uses this to stay fast.
 */
export interface Page {
  res: Response;
  url: string;
  status: number;
  body: string;
}

export class Browser {
  /** host -> cookie name -> value */
  readonly jar = new Map<string, Map<string, string>>();
  /** Every URL requested, in order (to see the redirect chain). */
  readonly visited: string[] = [];

  cookieHeader(url: string): string | undefined {
    const cookies = this.jar.get(new URL(url).hostname);
    if (!cookies || cookies.size === 0) return undefined;
    return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  cookie(url: string, name: string): string | undefined {
    return this.jar.get(new URL(url).hostname)?.get(name);
  }

  setCookie(url: string, name: string, value: string): void {
    const host = new URL(url).hostname;
    if (!this.jar.has(host)) this.jar.set(host, new Map());
    this.jar.get(host)!.set(name, value);
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
      const expired = attrs.some((a) => {
        const [k, v] = a.trim().split('=');
        if (k!.toLowerCase() === 'max-age') return Number(v) <= 0;
        if (k!.toLowerCase() === 'expires') return new Date(v!).getTime() <= Date.now();
        return false;
      });
      if (expired || value === '') this.deleteCookie(url, name);
      else this.setCookie(url, name, value);
    }
  }

  /** One request, no redirect following; cookies sent and stored. */
  async request(url: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
    const cookie = this.cookieHeader(url);
    this.visited.push(url);
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { accept: 'text/html,application/xhtml+xml', ...(cookie ? { cookie } : {}), ...init.headers },
    });
    this.store(url, res);
    return res;
  }

  /** Follows redirects like a browser (303 and 302 after POST become GET). */
  async navigate(url: string, init: RequestInit & { headers?: Record<string, string> } = {}, maxHops = 20): Promise<Page> {
    let current = url;
    let req = init;
    for (let hop = 0; hop < maxHops; hop++) {
      const res = await this.request(current, req);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer();
        current = new URL(location, current).href;
        if (res.status === 303 || ((res.status === 302 || res.status === 301) && req.method && req.method !== 'GET')) req = { headers: init.headers ?? {} };
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
   * Opens `url` on the gateway and signs in at the test issuer's form as `username` if asked to;
   * returns the page the browser lands on afterwards.
   */
  async login(url: string, username: string): Promise<Page> {
    const page = await this.navigate(url);
    if (!/\/interaction\//.test(page.url)) return page;
    return this.submit(page.url, { login: username });
  }
}
