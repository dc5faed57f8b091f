/**
 * The identity body of `/sso/check_token/` and, per §5.10, of `/sso/refresh_token/` (protocols.md
 * §3 Q3; seed 003; account.md "User Data"): `access_key`, `secret_key`, `token` (the temporary
 * IAM id_token: a JWT signed with the provider keys, living as long as the access token) and
 * `user` {lang, user_id, user_name, email, phone}, every member a string ("" when unset).
 * `user_verify` (shape undocumented) is `{}` and only present when asked for.
 */
import { randomUUID } from 'node:crypto';
import type { AccessRecord } from '../../engine/access-tokens.js';
import type { User } from '../../engine/directory.js';
import type { Engine } from '../../engine/engine.js';
import type { SsoCredentials } from './credentials.js';

export interface SsoUser {
  lang: string;
  user_id: string;
  user_name: string;
  email: string;
  phone: string;
}

export interface SsoIdentity {
  access_key: string;
  secret_key: string;
  token: string;
  user: SsoUser;
  user_verify?: Record<string, never>;
}

/** QingCloud's language codes; the directory keeps none, so an `extension.lang` wins, else Chinese. */
export const DEFAULT_LANG = 'zh-cn';

export function ssoUser(user: User): SsoUser {
  return {
    lang: user.extension?.lang ?? DEFAULT_LANG,
    user_id: user.id,
    user_name: user.username,
    email: user.email ?? '',
    phone: user.phone ?? '',
  };
}

export async function ssoIdentity(
  engine: Engine,
  credentials: SsoCredentials,
  live: { token: string; key: string; record: AccessRecord; user: User },
  withUserVerify: boolean,
): Promise<SsoIdentity> {
  const { record, user } = live;
  const pair = await credentials.forToken(live.token, live.key, record.exp);
  const token = await engine.keys.sign({
    iss: record.iss,
    sub: user.id,
    aud: record.cid,
    iat: engine.nowSeconds(),
    exp: record.exp,
    jti: randomUUID(),
    access_key: pair.accessKey,
  });
  return {
    access_key: pair.accessKey,
    secret_key: pair.secretKey,
    token,
    user: ssoUser(user),
    ...(withUserVerify ? { user_verify: {} } : {}),
  };
}
