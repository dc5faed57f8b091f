/**
 * grant_type=password (RFC 6749 §4.3; protocols.md T2 d, seed 001): username (an identifier of the
 * auth source), password, auth_source_id (CIAM; absent: the client's first source), scope
 * (default `openid`). After a correct password the second-factor hook may demand `mfa_required`.
 */
import { ProviderError, missing } from '../errors.js';
import { grantableScopes, parseScope } from '../scopes.js';
import type { Grant } from './grant.js';

export const passwordGrant: Grant = {
  type: 'password',
  params: ['username', 'password', 'scope', 'auth_source_id'],

  async handle({ engine, client, params, profile, ip }) {
    if (!params.username) throw missing('username');
    if (params.password === undefined || params.password === '') throw missing('password');
    if (params.username.length > 256 || params.password.length > 1024)
      throw new ProviderError('wrong_credentials', 'Wrong username or password', { cause: 'oversized credentials' });
    const source = engine.authSources.resolve(client, params.auth_source_id);
    const user = await engine.passwords.verify({ login: params.username, password: params.password, ip, source });
    const scope = grantableScopes(client, params.scope ? parseScope(params.scope) : ['openid']);
    const issueRefresh = profile.passwordGrantRefresh && client.grants.has('refresh_token');
    if (await engine.secondFactor.required(user, client)) {
      const mfaToken = await engine.secondFactor.beginGrant({ user, client, scope, issuer: profile.issuer, authSourceId: source.id, issueRefresh });
      throw new ProviderError('mfa_required', 'mfa required', { extra: { mfa_token: mfaToken } });
    }
    const issued = await engine.issueTokens({
      client,
      issuer: profile.issuer,
      user,
      scope,
      authTime: engine.nowSeconds(),
      amr: ['pwd'],
      refresh: issueRefresh ? 'new' : 'none',
    });
    return issued.response;
  },
};
