/**
 * allow.users through the whole gateway: with an external issuer only `sub` matches (OIDC Core
 * §5.7: iss+sub is the stable identifier; usernames there may be chosen or changed, so someone who
 * names themselves 'alice' must not get alice's routes). With the built-in provider as issuer,
 * whose usernames are unique and assigned by the operator, usernames keep matching.
 */
import t from 'tap';
import { startStack, type Stack } from './helpers/stack.js';
import { Browser } from './helpers/browser.js';
import { rawRequest } from './helpers/raw.js';
import { startApp } from '../helpers/app.js';
import { startUpstream } from './helpers/upstream.js';
import { builtinYaml, signIn as builtinSignIn } from './helpers/builtin.js';

async function session(stack: Stack, user: string): Promise<string> {
  const b = new Browser();
  await b.login(`${stack.base}/_menshen/login?rd=/open/x`, user);
  return `menshen=${b.cookie(stack.base, 'menshen')!}`;
}

t.test('external issuer: allow.users matches sub, never a (choosable) preferred_username', async (t) => {
  const stack = await startStack(t, {
    store: 'memory',
    issuer: {
      users: [
        { username: 'alice', groups: [] },
        // Signed up (or renamed themselves) at the issuer with the username 'alice'.
        { username: 'mallory', preferredUsername: 'alice', groups: [] },
      ],
    },
    routes: `
    - name: by-name
      match: { pathPrefix: /by-name }
      upstream: "{{UP}}"
      allow: { users: [alice] }
    - name: by-sub
      match: { pathPrefix: /by-sub }
      upstream: "{{UP}}"
      allow: { users: [sub-alice] }
    - name: by-claim
      match: { pathPrefix: /by-claim }
      upstream: "{{UP}}"
      allow: { claims: { preferred_username: alice } }
    - name: open
      match: { pathPrefix: /open }
      upstream: "{{UP}}"
      auth: none
`,
  });
  const alice = await session(stack, 'alice');
  const mallory = await session(stack, 'mallory');
  const get = async (path: string, cookie: string) => (await rawRequest(stack.base, path, { headers: { accept: 'application/json', cookie } })).status;

  t.equal(await get('/by-name/x', mallory), 403, 'a user calling themselves alice is not let in by users: [alice]');
  t.equal(await get('/by-name/x', alice), 403, 'nor is the real alice: the entry is not her sub');
  t.equal(await get('/by-sub/x', alice), 200, 'her sub admits her');
  t.equal(await get('/by-sub/x', mallory), 403, 'and nobody else');
  t.equal(await get('/by-claim/x', mallory), 200, 'an explicit claims rule on preferred_username still does what it says');
});

t.test('built-in provider as issuer: allow.users keeps matching its usernames', async (t) => {
  const upstream = await startUpstream(t);
  const yaml = builtinYaml(upstream.url).replace('allow: { groups: [staff] }', 'allow: { users: [bob] }');
  t.match(yaml, /allow: \{ users: \[bob\] \}/);
  const gw = await startApp(t, yaml);
  await gw.app.menshen.readiness.get('issuer')!();

  const bob = new Browser();
  t.equal((await builtinSignIn(bob, `${gw.base}/x`, 'bob')).status, 200, 'bob by username');
  const alice = new Browser();
  t.equal((await builtinSignIn(alice, `${gw.base}/x`, 'alice')).status, 403, 'alice is not listed');
});
