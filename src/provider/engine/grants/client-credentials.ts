/**
 * grant_type=client_credentials (RFC 6749 §4.4; protocols.md T2 e): an access token for the client
 * itself (`sub` = client_id), scoped to the client's configured `scopes`; no refresh or id token.
 * Only confidential clients (config validation refuses the grant for public ones).
 */
import { ProviderError } from '../errors.js';
import { parseScope } from '../scopes.js';
import type { Grant } from './grant.js';

export const clientCredentialsGrant: Grant = {
  type: 'client_credentials',
  params: ['scope'],

  async handle({ engine, client, clientAuthenticated, params, profile }) {
    if (!clientAuthenticated || client.isPublic)
      throw new ProviderError('unauthorized_client', 'client_credentials needs a confidential client');
    const asked = parseScope(params.scope);
    const unknown = asked.filter((s) => !client.scopes.includes(s));
    if (unknown.length) throw new ProviderError('invalid_scope', `scope not allowed: ${unknown.join(' ')}`, { param: 'scope' });
    const issued = await engine.issueTokens({
      client,
      issuer: profile.issuer,
      user: null,
      scope: asked.length ? asked : [...client.scopes],
      refresh: 'none',
    });
    return issued.response;
  },
};
