/** Open-redirect table: every variant from the advisories in gateway-lessons §4, and then some. */
import t from 'tap';
import { safeRedirect, MAX_REDIRECT_LENGTH } from '../../src/gateway/redirect.js';

const HOME = 'https://gw.example.com';
const ALLOWED = ['https://app.example.com', 'http://127.0.0.1:8081/ignored/path'];

t.test('accepted targets', async (t) => {
  const rows: [target: string, want: string][] = [
    ['/', 'https://gw.example.com/'],
    ['/app', 'https://gw.example.com/app'],
    ['/app/x?y=1&z=%2F#frag', 'https://gw.example.com/app/x?y=1&z=%2F#frag'],
    ['/app/my%20file', 'https://gw.example.com/app/my%20file'],
    ['/caf%C3%A9', 'https://gw.example.com/caf%C3%A9'],
    ['/a/../b', 'https://gw.example.com/b'],
    ['/../../b', 'https://gw.example.com/b'],
    ['/?x=//evil.com', 'https://gw.example.com/?x=//evil.com'],
    ['/x?next=http://evil.com', 'https://gw.example.com/x?next=http://evil.com'],
    ['/@evil.com', 'https://gw.example.com/@evil.com'],
    ['https://gw.example.com', 'https://gw.example.com/'],
    ['https://gw.example.com/app?x=1', 'https://gw.example.com/app?x=1'],
    ['HTTPS://GW.EXAMPLE.COM/App', 'https://gw.example.com/App'],
    ['https://gw.example.com:443/x', 'https://gw.example.com/x'],
    ['https://gw.example.com#@evil.com', 'https://gw.example.com/#@evil.com'],
    ['https://gw.example.com?@evil.com', 'https://gw.example.com/?@evil.com'],
    ['https://app.example.com/dashboard', 'https://app.example.com/dashboard'],
    ['http://127.0.0.1:8081/cb', 'http://127.0.0.1:8081/cb'],
  ];
  for (const [target, want] of rows) t.equal(safeRedirect(target, HOME, ALLOWED), want, target);
});

t.test('refused targets', async (t) => {
  const rows: [name: string, target: string | undefined | null][] = [
    ['undefined', undefined],
    ['null', null],
    ['empty', ''],
    // GHSA-qqxw-m5fj-f7gv and friends: backslashes
    ['slash backslash', '/\\evil.com'],
    ['backslash backslash', '\\\\evil.com'],
    ['slash backslash slash', '/\\/evil.com'],
    ['backslash inside', '/app\\..\\evil'],
    ['encoded backslash start', '/%5Cevil.com'],
    ['encoded backslash lowercase', '/%5cevil.com'],
    ['encoded backslash later', '/app/%5C%5Cevil.com'],
    ['http with backslashes', 'http:\\\\evil.com'],
    ['absolute with backslash userinfo', 'https://evil.com\\@gw.example.com'],
    ['absolute with backslash host end', 'https://gw.example.com\\@evil.com'],
    // protocol-relative
    ['protocol-relative', '//evil.com'],
    ['triple slash', '///evil.com'],
    ['protocol-relative with path', '//evil.com/gw.example.com'],
    ['encoded second slash', '/%2Fevil.com'],
    ['encoded second slash lowercase', '/%2fevil.com'],
    ['double-encoded second slash start', '/%2F%2Fevil.com'],
    // GHSA-j7px-6hwj-hpjg, GHSA-5m6c-jp6f-2vcv: whitespace and control characters, raw and encoded
    ['tab between slashes', '/\t/evil.com'],
    ['encoded tab between slashes', '/%09/evil.com'],
    ['encoded LF between slashes', '/%0a/evil.com'],
    ['encoded CR between slashes', '/%0D/evil.com'],
    ['encoded space between slashes', '/%20/evil.com'],
    ['encoded tab first', '%09//evil.com'],
    ['encoded space first', '%20/evil.com'],
    ['leading space', ' /app'],
    ['leading tab', '\t//evil.com'],
    ['trailing space', '/app '],
    ['raw space inside', '/my file'],
    ['raw newline', '/app\nSet-Cookie: x=1'],
    ['encoded CRLF header injection', '/app%0d%0aSet-Cookie:%20x=1'],
    ['encoded NUL', '/app%00'],
    ['encoded DEL', '/app%7F'],
    ['encoded NBSP between slashes', '/%C2%A0/evil.com'],
    ['encoded ideographic space between slashes', '/%E3%80%80/evil.com'],
    ['encoded zero-width space between slashes', '/%E2%80%8B/evil.com'],
    ['raw NBSP', '/\u00a0/evil.com'],
    ['raw unicode slash lookalike', '/\u2215evil.com'],
    ['raw fullwidth solidus', '/\uff0fevil.com'],
    ['bad percent escape', '/app%zz'],
    ['percent at end', '/app%'],
    // schemes and schemeless spellings
    ['https without slashes', 'https:evil.com'],
    ['https with one slash', 'https:/evil.com'],
    ['http without slashes', 'http:evil.com'],
    ['javascript', 'javascript:alert(1)'],
    ['javascript upper', 'JavaScript:alert(document.domain)'],
    ['encoded newline before javascript:', '/%0ajavascript:alert(1)'],
    ['data', 'data:text/html,<script>alert(1)</script>'],
    ['vbscript', 'vbscript:msgbox(1)'],
    ['ftp', 'ftp://gw.example.com/x'],
    ['file', 'file:///etc/passwd'],
    ['bare host', 'evil.com'],
    ['relative without slash', 'app/x'],
    ['query only', '?x=1'],
    ['fragment only', '#x'],
    // hosts that are not exactly ours (GHSA-4mf2-f3wh-gvf2)
    ['other host', 'https://evil.com/'],
    ['our host as subdomain prefix', 'https://gw.example.com.evil.com/'],
    ['our host as suffix', 'https://evilgw.example.com/'],
    ['a subdomain of ours', 'https://sub.gw.example.com/'],
    ['trailing root dot', 'https://gw.example.com./'],
    ['other scheme', 'http://gw.example.com/'],
    ['other port', 'https://gw.example.com:8443/'],
    ['explicit port equal to another default', 'https://gw.example.com:80/'],
    ['zero-padded port', 'https://gw.example.com:0443/'],
    // userinfo (AUT/O2P variants)
    ['userinfo evil@ours', 'https://evil.com@gw.example.com/'],
    ['userinfo ours@evil', 'https://gw.example.com@evil.com/'],
    ['userinfo with password', 'https://user:pass@gw.example.com/'],
    ['empty userinfo', 'https://@gw.example.com/'],
    ['encoded at in authority', 'https://gw.example.com%40evil.com/'],
    ['encoded dot in host', 'https://gw%2Eexample.com/'],
    ['encoded slash in host', 'https://gw.example.com%2F@evil.com/'],
    ['empty host', 'https:///evil.com'],
    ['IPv4 shorthand rewritten by the parser', 'http://0x7f.1:8081/'],
    ['IDN lookalike', 'https://gw.exаmple.com/'],
    ['punycode of nothing we know', 'https://xn--gw-example-9ja.com/'],
    ['too long', `/${'a'.repeat(MAX_REDIRECT_LENGTH)}`],
  ];
  for (const [name, target] of rows) t.equal(safeRedirect(target, HOME, ALLOWED), null, `${name}: ${JSON.stringify(target)}`);
});

t.test('allowedOrigins is exact: no wildcards, no subdomains, path ignored', async (t) => {
  t.equal(safeRedirect('https://app.example.com/x', HOME), null, 'not allowed without allowedOrigins');
  t.equal(safeRedirect('https://app.example.com/x', HOME, ['https://app.example.com']), 'https://app.example.com/x');
  t.equal(safeRedirect('https://x.app.example.com/', HOME, ['https://app.example.com']), null);
  t.equal(safeRedirect('http://app.example.com/', HOME, ['https://app.example.com']), null);
  t.equal(safeRedirect('https://app.example.com/', HOME, ['*.example.com', 'example.com', 'not a url']), null);
  t.equal(safeRedirect('http://127.0.0.1:8081/other', HOME, ['http://127.0.0.1:8081/only/this']), 'http://127.0.0.1:8081/other');
});

t.test('publicOrigin may carry a path or a default port; only its origin counts', async (t) => {
  t.equal(safeRedirect('/x', 'https://gw.example.com/base/'), 'https://gw.example.com/x');
  t.equal(safeRedirect('/x', 'http://127.0.0.1:8080'), 'http://127.0.0.1:8080/x');
  t.equal(safeRedirect('http://127.0.0.1:8080/y', 'http://127.0.0.1:8080'), 'http://127.0.0.1:8080/y');
  t.equal(safeRedirect('http://localhost:8080/y', 'http://127.0.0.1:8080'), null);
  t.equal(safeRedirect('https://gw.example.com/y', 'https://gw.example.com:443'), 'https://gw.example.com/y');
  t.equal(safeRedirect('/x', 'not a url'), null, 'a broken publicOrigin admits nothing');
});

t.test('what comes back always stays on an allowed origin', async (t) => {
  const targets = ['/', '/a', '/a/../../..', '/.%2e/.%2e/x', '/x?y#z', 'https://gw.example.com/q', 'https://app.example.com'];
  for (const target of targets) {
    const out = safeRedirect(target, HOME, ALLOWED);
    t.ok(out !== null && ['https://gw.example.com', 'https://app.example.com'].includes(new URL(out).origin), `${target} -> ${out}`);
  }
});
