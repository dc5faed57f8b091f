/**
 * A gateway in front of menshen's own built-in provider, in the example config's shape
 * (issuer = {publicUrl}/idp, client 'demo', users alice (staff) and bob (contractors)).
 */
import { TEST_PASSWORD, TEST_PASSWORD_HASH } from '../../helpers/app.js';
import { testRedisUrl } from '../../helpers/store.js';
import type { Browser } from './browser.js';

const SECRET = 'demo-secret-0123456789abcdef';

export function builtinYaml(upstream: string, store: 'redis' | 'memory' = 'redis'): string {
  return `
server: { listen: "127.0.0.1:0", publicUrl: "{{BASE}}" }
store:
  type: ${store}
${store === 'redis' ? `  redis: { url: "${testRedisUrl()}" }` : ''}
provider:
  issuer: "{{BASE}}/idp"
  clients:
    - clientId: demo
      clientSecret: ${SECRET}
      redirectUris: ["{{BASE}}/_menshen/callback"]
      postLogoutRedirectUris: ["{{BASE}}/", "{{BASE}}/bye"]
      grants: [authorization_code, refresh_token]
      backchannelLogoutUri: "{{BASE}}/_menshen/backchannel-logout"
  users:
    - { username: alice, passwordHash: "${TEST_PASSWORD_HASH}", email: alice@example.com, name: Alice, groups: [staff] }
    - { username: bob, passwordHash: "${TEST_PASSWORD_HASH}", email: bob@example.com, groups: [contractors] }
gateway:
  oidc: { clientId: demo, clientSecret: ${SECRET} }
  session: { secret: test-cookie-secret-0123456789abcdef0123 }
  routes:
    - name: app
      match: { pathPrefix: / }
      upstream: "${upstream}"
      allow: { groups: [staff] }
      publicPaths: [/favicon.ico]
      headers: { X-Remote-User: "{preferred_username}" }
      passAccessToken: true
`;
}

/** Opens a protected page, signs in at the built-in provider's form, returns the page landed on. */
export async function signIn(b: Browser, url: string, username: string) {
  const form = await b.navigate(url);
  if (!/\/idp\/login/.test(form.url)) return form;
  return b.fillForm(form, { username, password: TEST_PASSWORD });
}

