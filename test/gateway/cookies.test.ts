/** The gateway's cookies: names and attributes per publicUrl scheme, signing with rotation, the login cap. */
import t from 'tap';
import { GatewayCookies, MAX_PENDING_LOGINS, readCookies } from '../../src/gateway/session/cookies.js';

const ID = 'A'.repeat(22);
const SECRET = 'b'.repeat(43);
const secret1 = 'first-cookie-secret-0123456789abcdef';
const secret2 = 'second-cookie-secret-0123456789abcdef';

t.test('https: __Host- prefix, Secure, no Domain, Path=/', async (t) => {
  const c = new GatewayCookies({ cookieName: 'menshen', secrets: secret1, publicUrl: 'https://gw.example.com' });
  t.equal(c.sessionName, '__Host-menshen');
  t.equal(c.loginName, '__Host-menshen-login');
  const set = c.sessionCookie({ id: ID, secret: SECRET }, 3600);
  t.match(set, /^__Host-menshen=[^;]+; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure$/);
  t.notMatch(set, /Domain/i);
});

t.test('http: plain name, not Secure', async (t) => {
  const c = new GatewayCookies({ cookieName: 'gw', secrets: secret1, publicUrl: 'http://127.0.0.1:8080' });
  t.equal(c.sessionName, 'gw');
  t.notMatch(c.sessionCookie({ id: ID, secret: SECRET }, 60), /Secure/);
  t.match(c.clearSession(), /^gw=; Path=\/; Max-Age=0; Expires=Thu, 01 Jan 1970/);
});

t.test('signed with the first secret, verified by any: rotation', async (t) => {
  const old = new GatewayCookies({ cookieName: 'm', secrets: secret1, publicUrl: 'http://x' });
  const rotated = new GatewayCookies({ cookieName: 'm', secrets: [secret2, secret1], publicUrl: 'http://x' });
  const dropped = new GatewayCookies({ cookieName: 'm', secrets: [secret2], publicUrl: 'http://x' });
  const value = old.sessionCookie({ id: ID, secret: SECRET }, 60).split(';')[0]!;
  t.same(rotated.read(value).ticket, { id: ID, secret: SECRET }, 'an old cookie still reads after rotation');
  t.equal(dropped.read(value).ticket, null, 'and not once its secret is dropped');
  const tampered = value.replace(`${ID}.`, `${'B'.repeat(22)}.`);
  t.equal(old.read(tampered).ticket, null, 'a changed id breaks the signature');
});

t.test('the pending-login list keeps the newest five, one cookie', async (t) => {
  const c = new GatewayCookies({ cookieName: 'm', secrets: secret1, publicUrl: 'http://x' });
  const states = Array.from({ length: 8 }, (_, i) => `state${i}`.padEnd(24, 'x'));
  const set = c.loginCookie(states);
  t.match(set, /^m-login=/);
  t.match(set, /Max-Age=300;/, 'as long as a login may take (5 minutes)');
  const read = c.read(set.split(';')[0]!);
  t.same(read.pendingLogins, states.slice(-MAX_PENDING_LOGINS));
  t.match(c.loginCookie([]), /^m-login=; Path=\/; Max-Age=0/, 'an empty list clears the cookie');
});

t.test('reading: first value wins, quotes stripped, malformed pieces ignored', async (t) => {
  t.same([...readCookies('a=1; m=first; m=second; junk; =x; b="q"', ['m', 'b'])], [['m', 'first'], ['b', 'q']]);
  const c = new GatewayCookies({ cookieName: 'm', secrets: secret1, publicUrl: 'http://x' });
  for (const header of ['', ';;;', 'm', 'm=', 'm=%zz', `m=${'x'.repeat(10000)}`]) t.same(c.read(header), { ticket: null, renewTicket: false, pendingLogins: [] }, JSON.stringify(header.slice(0, 20)));
});
