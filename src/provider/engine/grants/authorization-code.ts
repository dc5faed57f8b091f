/**
 * grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.6, protocols.md T2 a/b).
 * The code is taken once; redirect_uri must match the authorize request's (EIAM: only when it was
 * sent there); PKCE is verified when a challenge was registered, with a method this token endpoint
 * accepts (§5.2: CIAM S256 only, so an EIAM SM3 code is refused there), and a verifier without a challenge
 * is refused (downgrade protection, OAuth 2.1 §4.1.3). A code whose SSO session ended (logout)
 * is refused.
 */
import { ProviderError, missing } from '../errors.js';
import { verifyPkce } from '../pkce.js';
import type { Grant } from './grant.js';

export const authorizationCodeGrant: Grant = {
  type: 'authorization_code',
  params: ['code', 'redirect_uri', 'code_verifier'],

  allowsSecretless: (params, profile) => profile.secretlessWithPkce && params.code_verifier !== undefined,

  async handle({ engine, client, clientAuthenticated, params, profile }) {
    const code = params.code;
    if (!code) throw missing('code');
    const { record, hash } = await engine.codes.consume(code, (issued) => engine.revokeIssued(issued));
    if (record.cid !== client.id) throw new ProviderError('invalid_code', 'invalid code', { cause: 'code issued to another client' });
    if (record.dialect !== profile.dialect) throw new ProviderError('invalid_code', 'invalid code', { cause: 'code issued through another dialect' });

    const sent = params.redirect_uri;
    if (record.redirectUriSent || profile.redirectUriRequired) {
      if (sent === undefined) throw missing('redirect_uri');
      if (sent !== record.redirectUri) throw new ProviderError('redirect_uri_mismatch', 'invalid redirect_uri', { param: 'redirect_uri' });
    } else if (sent !== undefined && sent !== record.redirectUri) {
      throw new ProviderError('redirect_uri_mismatch', 'invalid redirect_uri', { param: 'redirect_uri' });
    }

    if (record.pkce) {
      // The method is the code's, but the rules are the token endpoint's: a code issued through EIAM
      // with SM3 does not verify at CIAM's token endpoint, which accepts S256 only (protocols.md §5.2).
      if (!profile.pkceMethods.includes(record.pkce.method))
        throw new ProviderError('invalid_code_verifier', 'code_challenge_method not accepted at this token endpoint', {
          param: 'code_verifier',
          cause: `code issued with ${record.pkce.method} PKCE; this token endpoint accepts ${profile.pkceMethods.join(', ')}`,
        });
      verifyPkce(record.pkce.challenge, record.pkce.method, params.code_verifier);
    } else if (params.code_verifier !== undefined)
      throw new ProviderError('invalid_code_verifier', 'code_verifier without a code_challenge', { param: 'code_verifier' });
    else if (!clientAuthenticated)
      // A secretless exchange is only acceptable with PKCE (public clients always registered one).
      throw new ProviderError('invalid_client', 'client authentication failed', { cause: 'secretless exchange without PKCE' });

    // The code holds the user as at login; the tokens go to the user as now: one disabled or
    // locked since (OneAccess management API, a config reload) gets nothing.
    const user = await engine.directory.get(record.user.id);
    if (!user || user.status !== 'active') throw new ProviderError('invalid_code', 'invalid code', { cause: 'user gone or not active' });

    const issued = await engine.issueTokens({
      client,
      issuer: profile.issuer,
      user,
      scope: record.scope,
      authTime: record.authTime,
      amr: record.amr,
      ...(record.sid !== undefined ? { sid: record.sid } : {}),
      ...(record.nonce !== undefined ? { nonce: record.nonce } : {}),
      refresh: client.grants.has('refresh_token') ? 'new' : 'none',
      ...(profile.dialect !== undefined ? { dialect: profile.dialect } : {}),
      extraWrites: (out) => [engine.codes.markUsed(hash, { at: out.accessKey, ...(out.fid ? { fid: out.fid } : {}) })],
    });
    // A code outlives nothing it came from: once its SSO session has ended (logout), it issues
    // nothing. Checked after the tokens joined the session's index, so a logout either finds them
    // there (engine/logout.ts ends the session before reading the index) or is seen here.
    if (record.sid !== undefined && !(await engine.sessions.get(record.sid))) {
      await engine.revokeTokens({ at: issued.accessKey, ...(issued.fid ? { fid: issued.fid } : {}) });
      throw new ProviderError('invalid_code', 'invalid code', { cause: 'the SSO session of the code has ended' });
    }
    return issued.response;
  },
};
