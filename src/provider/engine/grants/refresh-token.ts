/**
 * grant_type=refresh_token (RFC 6749 §6, protocols.md T2 c, §5.3): rotation on every use, reuse
 * revokes the family (refresh-families.ts). A narrower `scope` may be asked for; the family keeps
 * its original scope. A user who was disabled or deleted meanwhile ends the family.
 */
import { ProviderError, missing } from '../errors.js';
import { parseScope } from '../scopes.js';
import type { Grant } from './grant.js';

export const refreshTokenGrant: Grant = {
  type: 'refresh_token',
  params: ['refresh_token', 'scope'],

  async handle({ engine, client, params, profile }) {
    const token = params.refresh_token;
    if (!token) throw missing('refresh_token');
    const { record, hash, accessKey, state, loaded: user } = await engine.refresh.consume(token, client.id, (r) => engine.directory.get(r.uid));
    if (!user || user.status !== 'active') {
      await engine.refresh.revokeFamily(record.fid);
      throw new ProviderError('invalid_refresh_token', 'invalid refresh token', { cause: 'user gone or not active' });
    }
    let scope = record.scope;
    if (params.scope !== undefined) {
      const asked = parseScope(params.scope);
      if (asked.some((s) => !record.scope.includes(s))) {
        // The presented token is already taken: put it back (RFC 6749 §6: an invalid scope must
        // not cost the client its refresh token). The family state was never changed, so a
        // revocation meanwhile still stands.
        await engine.refresh.restore(record, hash);
        throw new ProviderError('invalid_scope', 'scope exceeds the original grant', { param: 'scope' });
      }
      scope = asked;
    }
    const issued = await engine.issueTokens({
      client,
      issuer: profile.issuer,
      user,
      scope,
      authTime: record.authTime,
      ...(record.amr ? { amr: record.amr } : {}),
      ...(record.sid !== undefined ? { sid: record.sid } : {}),
      refresh: { record, oldHash: hash, state, ...(accessKey ? { oldAccessKey: accessKey } : {}) },
    });
    return issued.response;
  },
};
