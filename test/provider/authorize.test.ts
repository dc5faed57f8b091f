/**
 * The authorization endpoint and the login page over raw HTTP: what is never redirected (T1),
 * what is, prompt handling, the page's languages, escaping and CSRF protection.
 */
import t from 'tap';
import { CB, Jar, TEST_PASSWORD, authorizeUrl, browserAuthorize, form, hidden, startProvider, type ProviderFixture } from './helpers.js';

const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

async function loginPage(f: ProviderFixture, params: Record<string, string>, lang?: string) {
  const jar = new Jar();
  const r = await fetch(authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', ...params }), { redirect: 'manual' });
  const loc = new URL(r.headers.get('location')!, f.base);
  const page = await fetch(loc, { headers: lang ? { 'accept-language': lang } : {} });
  jar.update(page);
  return { page, html: await page.text(), jar, loc };
}

t.test('authorize', async (t) => {
  const f = await startProvider(t);
  const get = (params: Record<string, string>, path?: string) => fetch(authorizeUrl(f, params, path), { redirect: 'manual' });

  t.test('CIAM: bad client or redirect URI is a 400 page, never a redirect', async (t) => {
    for (const [why, params] of [
      ['unregistered redirect_uri', { client_id: 'web', redirect_uri: 'http://evil.example/cb', response_type: 'code', scope: 'openid' }],
      ['redirect_uri prefix trick', { client_id: 'web', redirect_uri: `${CB}/../x`, response_type: 'code', scope: 'openid' }],
      ['unknown client', { client_id: 'ghost', redirect_uri: CB, response_type: 'code', scope: 'openid' }],
      ['missing redirect_uri', { client_id: 'web', response_type: 'code', scope: 'openid' }],
      ['missing client_id', { redirect_uri: CB, response_type: 'code', scope: 'openid' }],
      ['bad response_type', { client_id: 'web', redirect_uri: CB, response_type: 'token', scope: 'openid' }],
    ] as const) {
      const r = await get(params);
      t.equal(r.status, 400, why);
      t.equal(r.headers.get('location'), null, `${why}: no redirect`);
      t.match(r.headers.get('content-type'), /^text\/html/);
    }
  });

  t.test('EIAM: the documented 400 JSON (1442/62417)', async (t) => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ redirect_uri: CB, response_type: 'code', scope: 'openid' }, 'missing client_id parameter'],
      [{ client_id: 'legacy', scope: 'openid' }, 'missing response_type parameter'],
      [{ client_id: 'legacy', response_type: 'token', scope: 'openid' }, 'invalid response_type'],
      [{ client_id: 'legacy', redirect_uri: 'http://evil.example/', response_type: 'code', scope: 'openid' }, 'invalid redirect_uri'],
      [{ client_id: 'ghost', response_type: 'code', scope: 'openid' }, 'invalid client'],
    ];
    for (const [params, description] of cases) {
      const r = await get(params, '/auth/oauth2/authorize');
      t.equal(r.status, 400, description);
      t.equal(r.headers.get('content-type'), 'application/json;charset=UTF-8');
      t.equal(await r.text(), JSON.stringify({ error: 'invalid_request', error_description: description }));
    }
  });

  t.test('errors after the redirect URI is known go back to it, with state', async (t) => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ client_id: 'web', scope: 'profile' }, 'invalid_scope'],
      [{ client_id: 'spa', scope: 'openid' }, 'invalid_request'], // public client without PKCE
      [{ client_id: 'spa', scope: 'openid', code_challenge: CHALLENGE }, 'invalid_request'], // method absent = plain
      [{ client_id: 'spa', scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'plain' }, 'invalid_request'],
      [{ client_id: 'web', scope: 'openid', prompt: 'none' }, 'login_required'],
      [{ client_id: 'web', scope: 'openid', max_age: 'soon' }, 'invalid_request'],
    ];
    for (const [params, error] of cases) {
      const r = await get({ redirect_uri: CB, response_type: 'code', state: 'xyz', ...params });
      t.equal(r.status, 302);
      const loc = new URL(r.headers.get('location')!);
      t.equal(`${loc.origin}${loc.pathname}`, CB);
      t.equal(loc.searchParams.get('error'), error, JSON.stringify(params));
      t.equal(loc.searchParams.get('state'), 'xyz');
      t.notOk(loc.searchParams.get('code'));
    }
  });

  t.test('POST authorize and a full login', async (t) => {
    const r = await fetch(`${f.issuer}/oauth2/authorize`, { ...form({ client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid' }), redirect: 'manual' });
    t.equal(r.status, 302);
    t.match(r.headers.get('location'), /\/idp\/login\?p_state=/);
    const { location, jar } = await browserAuthorize(f, authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's1' }), {
      username: 'alice',
      password: TEST_PASSWORD,
    });
    t.equal(location.searchParams.get('state'), 's1');
    t.ok(location.searchParams.get('code'));
    const cookie = jar.cookies.get('menshen_op');
    t.ok(cookie, 'SSO cookie set');

    const again = await browserAuthorize(f, authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid' }), null, jar);
    t.ok(again.location.searchParams.get('code'), 'silent the second time');
    const forced = await fetch(authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'login' }), {
      redirect: 'manual',
      headers: { cookie: jar.header() },
    });
    t.match(forced.headers.get('location'), /\/login\?p_state=/, 'prompt=login shows the page');
    const maxAge = (age: string) =>
      fetch(authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', max_age: age }), {
        redirect: 'manual',
        headers: { cookie: jar.header() },
      }).then((r) => r.headers.get('location'));
    f.clock.advance(10_000);
    t.match(await maxAge('60'), /code=/, 'login 10 s ago satisfies max_age=60');
    t.match(await maxAge('5'), /\/login\?p_state=/, 'but not max_age=5');
    const tampered = await fetch(authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'none' }), {
      redirect: 'manual',
      headers: { cookie: `menshen_op=${cookie!.split('.')[0]}.forged-secret-forged-secret-forged` },
    });
    t.equal(new URL(tampered.headers.get('location')!).searchParams.get('error'), 'login_required', 'a forged cookie is no session');
  });
});

t.test('login page', async (t) => {
  const f = await startProvider(t);

  t.test('languages, escaping, headers', async (t) => {
    const zh = await loginPage(f, {}, 'zh-CN,zh;q=0.9,en;q=0.8');
    t.equal(zh.page.status, 200);
    t.match(zh.html, /<html lang="zh-CN">/);
    t.match(zh.html, /登录以继续访问 Web &lt;App&gt;/, 'client name escaped');
    t.notMatch(zh.html, /<App>/);
    t.match(zh.page.headers.get('content-security-policy'), /frame-ancestors 'none'/);
    t.equal(zh.page.headers.get('x-frame-options'), 'DENY');
    t.equal(zh.page.headers.get('cache-control'), 'no-store');
    t.ok(zh.jar.cookies.get('menshen_op_csrf'), 'CSRF cookie');
    const en = await loginPage(f, {}, 'fr-FR, en;q=0.5');
    t.match(en.html, /<html lang="en">/);
    t.match(en.html, /Sign in to continue to Web &lt;App&gt;/);
    const ui = await loginPage(f, { ui_locales: 'zh-CN' }, 'en');
    t.match(ui.html, /<html lang="zh-CN">/, 'ui_locales wins');
    const hint = await loginPage(f, { login_hint: '"><script>alert(1)</script>' });
    t.match(hint.html, /value="&quot;&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;"/, 'login_hint escaped');
  });

  t.test('wrong password re-renders with the message; CSRF is enforced', async (t) => {
    const { html, jar } = await loginPage(f, {}, 'zh-CN');
    const fields = { p_state: hidden(html, 'p_state'), csrf: hidden(html, 'csrf') };
    const post = (body: Record<string, string>, headers: Record<string, string> = {}) => {
      const init = form(body);
      return fetch(`${f.issuer}/login`, { ...init, redirect: 'manual', headers: { ...init.headers, 'accept-language': 'zh-CN', ...headers } });
    };
    const wrong = await post({ ...fields, username: '<b>alice</b>', password: 'nope' }, { cookie: jar.header() });
    t.equal(wrong.status, 200);
    const wrongHtml = await wrong.text();
    t.match(wrongHtml, /用户名或密码错误/);
    t.match(wrongHtml, /value="&lt;b&gt;alice&lt;\/b&gt;"/, 'typed username kept, escaped');
    const noCookie = await post({ ...fields, username: 'alice', password: TEST_PASSWORD });
    t.equal(noCookie.status, 403, 'no CSRF cookie');
    const badToken = await post({ ...fields, csrf: 'x'.repeat(32), username: 'alice', password: TEST_PASSWORD }, { cookie: jar.header() });
    t.equal(badToken.status, 403, 'wrong CSRF token');
    const crossSite = await post({ ...fields, username: 'alice', password: TEST_PASSWORD }, { cookie: jar.header(), origin: 'http://evil.example' });
    t.equal(crossSite.status, 403, 'foreign Origin');
    const ok = await post({ ...fields, username: 'alice', password: TEST_PASSWORD }, { cookie: jar.header() });
    t.equal(ok.status, 303);
    t.match(ok.headers.get('location'), /^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    const sso = ok.headers.getSetCookie().find((c) => c.startsWith('menshen_op='));
    t.match(sso, /HttpOnly/);
    t.match(sso, /SameSite=Lax/);
    t.match(sso, /Path=\/idp/);
    const replay = await post({ ...fields, username: 'alice', password: TEST_PASSWORD }, { cookie: jar.header() });
    t.equal(replay.status, 400, 'one login per p_state');
  });

  t.test('two login tabs in one browser: each submits fine after the other', async (t) => {
    const jar = new Jar();
    const openTab = async () => {
      const r = await fetch(authorizeUrl(f, { client_id: 'web', redirect_uri: CB, response_type: 'code', scope: 'openid', prompt: 'login' }), {
        redirect: 'manual',
        headers: { cookie: jar.header() },
      });
      const page = await fetch(new URL(r.headers.get('location')!, f.base), { headers: { cookie: jar.header() } });
      jar.update(page);
      const html = await page.text();
      return () => {
        const init = form({ p_state: hidden(html, 'p_state'), csrf: hidden(html, 'csrf'), username: 'alice', password: TEST_PASSWORD });
        return fetch(`${f.issuer}/login`, { ...init, redirect: 'manual', headers: { ...init.headers, cookie: jar.header() } }).then((res) => {
          jar.update(res);
          return res;
        });
      };
    };
    const first = await openTab();
    const second = await openTab();
    const third = await openTab();
    t.equal(jar.cookies.size, 1, 'one CSRF cookie for any number of tabs (no pile-up)');
    const a = await first();
    t.equal(a.status, 303, 'the first tab');
    t.match(a.headers.get('location'), /code=/);
    const b = await second();
    t.equal(b.status, 303, 'the second tab, after the first one signed in');
    t.match(b.headers.get('location'), /code=/);
    const c = await third();
    t.equal(c.status, 303, 'and a third');
  });

  t.test("a form token does not work with another browser's CSRF cookie", async (t) => {
    const mine = await loginPage(f, {});
    const theirs = await loginPage(f, {});
    const init = form({ p_state: hidden(mine.html, 'p_state'), csrf: hidden(mine.html, 'csrf'), username: 'alice', password: TEST_PASSWORD });
    const res = await fetch(`${f.issuer}/login`, { ...init, redirect: 'manual', headers: { ...init.headers, cookie: theirs.jar.header() } });
    t.equal(res.status, 403);
  });

  t.test('an expired or unknown p_state', async (t) => {
    const { html, jar } = await loginPage(f, {});
    f.clock.advance(601_000);
    const page = await fetch(`${f.issuer}/login?p_state=${hidden(html, 'p_state')}`);
    t.equal(page.status, 400);
    t.match(await page.text(), /expired/);
    const init = form({ p_state: hidden(html, 'p_state'), csrf: hidden(html, 'csrf'), username: 'alice', password: TEST_PASSWORD });
    const post = await fetch(`${f.issuer}/login`, { ...init, headers: { ...init.headers, cookie: jar.header() } });
    t.equal(post.status, 400);
    t.equal((await fetch(`${f.issuer}/login?p_state=garbage`)).status, 400);
    t.equal((await fetch(`${f.issuer}/login`)).status, 400);
  });
});
