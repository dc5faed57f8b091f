/** Every path spelling we could think of: each row is either the one canonical path, or a refusal. */
import t from 'tap';
import { hasDotDotEdge, matchKey, normalizePath, splitUrl, MAX_PATH_LENGTH } from '../../src/gateway/path.js';

type Row = [name: string, raw: string, want: string | { refused: RegExp }];
const refused = (reason: RegExp) => ({ refused: reason });

const table: Row[] = [
  // plain paths pass untouched
  ['root', '/', '/'],
  ['simple', '/app/x', '/app/x'],
  ['trailing slash kept', '/app/', '/app/'],
  ['sub-delims, colon and at stay raw', "/a!$&'()*+,=:@b", "/a!$&'()*+,=:@b"],
  ['tilde stays', '/~user/x', '/~user/x'],
  // duplicate slashes
  ['leading double slash', '//admin', '/admin'],
  ['inner double slash', '/public//admin', '/public/admin'],
  ['many slashes', '////a///b////', '/a/b/'],
  ['only slashes', '///', '/'],
  // dot segments
  ['single dot', '/./admin', '/admin'],
  ['single dots everywhere', '/a/./b/./', '/a/b/'],
  ['dot at end keeps directory', '/a/.', '/a/'],
  ['dot-dot', '/public/../admin', '/admin'],
  ['dot-dot at end', '/a/b/..', '/a/'],
  ['dot-dot to root', '/a/..', '/'],
  ['dot-dot after double slash', '/public//../admin', '/admin'],
  ['dot-dot above root', '/../admin', refused(/above the root/)],
  ['dot-dot above root later', '/a/../../admin', refused(/above the root/)],
  ['encoded dot-dot lower', '/public/%2e%2e/admin', '/admin'],
  ['encoded dot-dot upper', '/public/%2E%2E/admin', '/admin'],
  ['encoded dot-dot mixed', '/public/%2E%2e/admin', '/admin'],
  ['half-encoded dot-dot', '/public/.%2e/admin', '/admin'],
  ['encoded dot-dot with trailing slash', '/public/%2E%2e/', '/'],
  ['encoded single dot', '/a/%2e/b', '/a/b'],
  ['encoded dot-dot above root', '/%2e%2e/admin', refused(/above the root/)],
  ['three dots are a name', '/a/.../b', '/a/.../b'],
  ['trailing dot is part of the name', '/admin.', '/admin.'],
  ['trailing dots are part of the name', '/admin../x', '/admin../x'],
  ['dot file', '/.well-known/x', '/.well-known/x'],
  // percent-encoding normalization
  ['encoded unreserved decoded', '/%61%64%6D%69%6E', '/admin'],
  ['encoded tilde, dash, underscore decoded', '/%7E%2D%5F', '/~-_'],
  ['other escapes uppercased', '/caf%c3%a9', '/caf%C3%A9'],
  ['encoded space kept', '/my%20file', '/my%20file'],
  ['encoded reserved stays encoded', '/a%3Ab%40c%21', '/a%3Ab%40c%21'],
  ['%23 stays an encoded char', '/admin%23/x', '/admin%23/x'],
  ['%3F stays an encoded char', '/admin%3fx', '/admin%3Fx'],
  ['lone %25 kept', '/100%25', '/100%25'],
  ['%25 then non-hex kept', '/100%25off', '/100%25off'],
  ['%25 then one hex kept', '/%25a', '/%25a'],
  // unicode
  ['raw unicode encoded as UTF-8', '/文件/é', '/%E6%96%87%E4%BB%B6/%C3%A9'],
  ['raw astral char', '/😀', '/%F0%9F%98%80'],
  ['encoded unicode uppercased', '/%e6%96%87', '/%E6%96%87'],
  ['lone surrogate', '/a\ud800', refused(/surrogate/)],
  ['overlong dot-dot stays refused', '/public/%C0%AE%C0%AE/admin', refused(/overlong/)],
  ['overlong dot-dot lowercase', '/public/%c0%ae%c0%ae/admin', refused(/overlong/)],
  ['overlong slash', '/public%C0%AFadmin', refused(/overlong/)],
  ['overlong backslash', '/public%C1%9Cadmin', refused(/overlong/)],
  ['3-byte overlong dot', '/a/%E0%80%AE%E0%80%AE/b', refused(/overlong/)],
  ['4-byte overlong slash', '/a%F0%80%80%AFb', refused(/overlong/)],
  ['overlong NUL', '/a%C0%80', refused(/overlong/)],
  ['valid two-byte sequence is not overlong', '/%C3%A9%C2%A0', '/%C3%A9%C2%A0'],
  // raw characters not allowed in a path get one spelling
  ['raw quote and angle brackets encoded', '/"<x>"', '/%22%3Cx%3E%22'],
  ['raw braces, pipe, caret, backtick encoded', '/{a}|^`', '/%7Ba%7D%7C%5E%60'],
  ['raw brackets encoded', '/[x]', '/%5Bx%5D'],
  ['raw space encoded', '/a b', '/a%20b'],
  // encoded separators
  ['encoded slash lower', '/public%2fadmin', refused(/encoded slash/)],
  ['encoded slash upper', '/public/..%2Fadmin', refused(/encoded slash/)],
  ['double-encoded slash', '/public%252fadmin', refused(/double percent/)],
  ['double-encoded dot', '/public/%252e%252e/admin', refused(/double percent/)],
  ['encoded backslash', '/public%5cadmin', refused(/encoded backslash/)],
  ['encoded backslash upper', '/public/..%5C..%5Cadmin', refused(/encoded backslash/)],
  ['backslash', '/public\\..\\admin', refused(/backslash/)],
  ['backslash start', '/\\admin', refused(/backslash/)],
  // path parameters
  ['jsessionid', '/admin;jsessionid=abc', refused(/path parameter/)],
  ['matrix param in segment', '/public/..;/admin', refused(/path parameter/)],
  ['bare semicolon', '/a;', refused(/path parameter/)],
  ['encoded semicolon', '/admin%3bjsessionid=x', refused(/%3B/)],
  // control characters
  ['NUL raw', '/admin\u0000.png', refused(/control/)],
  ['NUL encoded', '/admin%00.png', refused(/control/)],
  ['tab encoded', '/a%09b', refused(/control/)],
  ['CR LF encoded', '/a%0d%0aSet-Cookie:x', refused(/control/)],
  ['LF raw', '/a\nb', refused(/control/)],
  ['DEL encoded', '/a%7f', refused(/control/)],
  ['DEL raw', '/a\u007f', refused(/control/)],
  // invalid escapes
  ['percent at end', '/a%', refused(/invalid percent/)],
  ['percent with one hex', '/a%4', refused(/invalid percent/)],
  ['percent with non-hex', '/a%G0', refused(/invalid percent/)],
  ['IIS %u escape', '/a/%u002e%u002e/b', refused(/invalid percent/)],
  // target forms and leftovers
  ['empty', '', refused(/empty/)],
  ['asterisk form', '*', refused(/start with/)],
  ['absolute form', 'http://evil.example/admin', refused(/start with/)],
  ['authority form', 'evil.example:443', refused(/start with/)],
  ['relative', 'admin', refused(/start with/)],
  ['query left in', '/a?b', refused(/split/)],
  ['fragment left in', '/a#b', refused(/split/)],
  ['overlong path', `/${'a'.repeat(MAX_PATH_LENGTH)}`, refused(/longer than/)],
];

t.test('normalizePath table', async (t) => {
  for (const [name, raw, want] of table) {
    const got = normalizePath(raw);
    if (typeof want === 'string') {
      t.same(got, { ok: true, path: want }, name);
    } else {
      t.equal(got.ok, false, `${name}: refused`);
      if (!got.ok) t.match(got.reason, want.refused, `${name}: reason "${got.reason}"`);
    }
  }
});

t.test('normalization is idempotent: an output normalizes to itself', async (t) => {
  for (const [name, raw, want] of table) {
    if (typeof want !== 'string') continue;
    t.same(normalizePath(want), { ok: true, path: want }, name);
  }
});

t.test('no output contains a dot segment, an empty segment or a refused character', async (t) => {
  for (const [name, raw, want] of table) {
    if (typeof want !== 'string') continue;
    const segments = want.split('/').slice(1, want.endsWith('/') ? -1 : undefined);
    t.notOk(segments.some((s) => s === '.' || s === '..' || (s === '' && want !== '/')), name);
    t.notMatch(want, /[\\;?#\u0000-\u001f\u007f]|%2F|%5C|%3B|%25[0-9A-F]{2}|%(?:[0-9a-f][a-f]|[a-f][0-9a-f])/, `${name}: ${raw}`);
  }
});

t.test('splitUrl', async (t) => {
  const rows: [string, { rawPath: string; rawQuery: string }][] = [
    ['/a/b', { rawPath: '/a/b', rawQuery: '' }],
    ['/a/b?x=1&y=2', { rawPath: '/a/b', rawQuery: 'x=1&y=2' }],
    ['/a?x=1#frag', { rawPath: '/a', rawQuery: 'x=1' }],
    ['/a#frag?x=1', { rawPath: '/a', rawQuery: '' }],
    ['/a#', { rawPath: '/a', rawQuery: '' }],
    ['/a?', { rawPath: '/a', rawQuery: '' }],
    ['/a?x=/status?y', { rawPath: '/a', rawQuery: 'x=/status?y' }],
    ['/public%23/../admin', { rawPath: '/public%23/../admin', rawQuery: '' }],
    ['/public#/../admin', { rawPath: '/public', rawQuery: '' }],
    ['?only=query', { rawPath: '', rawQuery: 'only=query' }],
    ['', { rawPath: '', rawQuery: '' }],
  ];
  for (const [url, want] of rows) t.same(splitUrl(url), want, url);
});

t.test('the query never influences the path (GHSA-7rh7-c77v-6434)', async (t) => {
  const { rawPath, rawQuery } = splitUrl('/api/private/x?path=/status');
  t.same(normalizePath(rawPath), { ok: true, path: '/api/private/x' });
  t.equal(rawQuery, 'path=/status');
});

t.test('a literal # never reaches the path; %23 stays inside it', async (t) => {
  const literal = splitUrl('/public#/../admin');
  t.same(normalizePath(literal.rawPath), { ok: true, path: '/public' });
  const encoded = splitUrl('/public%23/../admin');
  t.same(normalizePath(encoded.rawPath), { ok: true, path: '/admin' }, "'%23' is just a character of a segment that '..' removes");
  const kept = splitUrl('/public/%23/x');
  t.same(normalizePath(kept.rawPath), { ok: true, path: '/public/%23/x' });
});

t.test('matchKey: the folded spelling route prefixes are compared in (never forwarded)', async (t) => {
  const rows: [string, string][] = [
    ['/', '/'],
    ['/admin/secret', '/admin/secret'],
    ['/Admin/Secret', '/admin/secret'],
    ['/ADMIN/', '/admin/'],
    ['/admin./secret', '/admin/secret'],
    ['/admin.../secret', '/admin/secret'],
    ['/admin%20/secret', '/admin/secret'],
    ['/admin.%20.%20/secret', '/admin/secret'],
    ['/.../admin', '/admin'],
    ['/a/...', '/a'],
    ['/a/.../', '/a/'],
    ['/admin.x/secret', '/admin.x/secret'],
    ['/.well-known/x', '/.well-known/x'],
    ['/caf%C3%A9', '/caf%c3%a9'],
    ['/a%20b/c', '/a%20b/c'],
    ['/%23/x', '/%23/x'],
  ];
  for (const [path, want] of rows) t.equal(matchKey(path), want, path);
  for (const [path] of rows) t.equal(matchKey(matchKey(path)), matchKey(path), `idempotent: ${path}`);
});

t.test("hasDotDotEdge: the segments the proxy library will not send", async (t) => {
  const rows: [string, boolean][] = [
    ['/..foo', true],
    ['/a../b', true],
    ['/a/...', true],
    ['/a/.../b', true],
    ['/a..b/c', false],
    ['/a.b/c.', false],
    ['/', false],
  ];
  for (const [path, want] of rows) t.equal(hasDotDotEdge(path), want, path);
});
