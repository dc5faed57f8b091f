/**
 * grant_type=mfa_oob (EIAM, protocols.md T2 f, 1442/62556, 62428): finishes a password login that
 * answered `mfa_required`. Parameters: `mfa_token`, `code` = the challenge's oob_code (EIAM's name;
 * Auth0's `oob_code` is accepted too), `binding_code` = the SMS digits. The Auth0 grant URI is an
 * alias (§4 "Auth0 MFA API"). Errors per §5.4: wrong digits 400 invalid_grant `invalid binding_code`;
 * an unknown, expired or used code or mfa_token 400 invalid_grant `invalid code`.
 * EIAM documents access_token, expires_in, refresh_token (+ id_token) in the answer, so a refresh
 * token is issued whenever the client may refresh.
 */
import { ProviderError, missing } from '../errors.js';
import type { SmsMfa } from '../mfa/sms-mfa.js';
import type { Grant } from './grant.js';

export const MFA_OOB = 'mfa_oob';
export const AUTH0_MFA_OOB = 'http://auth0.com/oauth/grant-type/mfa-oob';

export function mfaOobGrant(mfa: SmsMfa): Grant {
  return {
    type: MFA_OOB,
    aliases: [AUTH0_MFA_OOB],
    params: ['mfa_token', 'code', 'oob_code', 'binding_code'],

    async handle({ engine, client, params, profile }) {
      const mfaToken = params.mfa_token;
      if (!mfaToken) throw missing('mfa_token');
      if (params.code !== undefined && params.oob_code !== undefined && params.code !== params.oob_code)
        throw new ProviderError('invalid_parameter', 'code and oob_code differ', { param: 'code' });
      const oobCode = params.code ?? params.oob_code;
      if (!oobCode) throw missing('code');
      if (!params.binding_code) throw missing('binding_code');
      if (mfaToken.length > 256 || oobCode.length > 256 || params.binding_code.length > 32)
        throw new ProviderError('invalid_oob_code', 'invalid code', { cause: 'oversized mfa parameters' });

      const pending = await mfa.verify('grant', mfaToken, client.id, oobCode, params.binding_code);
      // The user may have been disabled or deleted between the password and the code.
      const user = await engine.directory.get(pending.uid);
      if (!user || user.status !== 'active') throw new ProviderError('abnormal_user_status', 'Abnormal user status');
      const issued = await engine.issueTokens({
        client,
        issuer: profile.issuer,
        user,
        scope: pending.scope ?? ['openid'],
        authTime: engine.nowSeconds(),
        amr: ['pwd', 'sms', 'mfa'],
        refresh: client.grants.has('refresh_token') ? 'new' : 'none',
      });
      return issued.response;
    },
  };
}
