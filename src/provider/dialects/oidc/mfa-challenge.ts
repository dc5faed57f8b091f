/**
 * POST /auth/mfa/challenge (EIAM, protocols.md T3, 1442/62436): sends the SMS code of a password
 * login that answered `mfa_required` and returns exactly `{"challenge_type":"oob","oob_code":"…"}`.
 * Parameters in the query or a form body (§5.5): client_id (required), client_secret (optional:
 * the mfa_token, bound to the client, is the proof; a secret that is sent must be right),
 * mfa_token, challenge_type (fixed `oob`), oob_channel (optional, fixed `sms`). Calling it again for
 * the same mfa_token is a resend (a new oob_code; the previous one dies), at most once a minute.
 * Errors go through errors.ts (endpoint `mfa_challenge`): 403 unauthorized_client `invalid client`,
 * 400 invalid_grant `invalid code` (unknown or expired mfa_token), 429 too_many_requests, 503.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalid, isProviderError, missing } from '../../engine/errors.js';
import type { SmsMfa } from '../../engine/mfa/sms-mfa.js';
import { toWire } from './errors.js';
import { noStore, sendJson, sendWire, type DialectContext } from './http.js';
import { clientCredentials, collectParams } from './params.js';

export const MFA_CHALLENGE_PATH = '/auth/mfa/challenge';

export function mfaChallengeRoutes(app: FastifyInstance, ctx: DialectContext, mfa: SmsMfa): void {
  const { engine } = ctx;
  app.post(MFA_CHALLENGE_PATH, async (req: FastifyRequest, reply: FastifyReply) => {
    noStore(reply);
    let basic = false;
    try {
      const params = collectParams(req, { query: true, body: true });
      const creds = clientCredentials(req, params);
      basic = creds.basic;
      if (!creds.clientId) throw missing('client_id');
      const client = engine.clients.authenticate(creds, { allowSecretless: true });
      if (!params.mfa_token) throw missing('mfa_token');
      if (!params.challenge_type) throw missing('challenge_type');
      if (params.challenge_type !== 'oob') throw invalid('challenge_type');
      if (params.oob_channel !== undefined && params.oob_channel !== 'sms') throw invalid('oob_channel');
      const sent = await mfa.challenge('grant', params.mfa_token, client.id);
      return sendJson(reply, 200, { challenge_type: 'oob', oob_code: sent.oobCode });
    } catch (err) {
      if (!isProviderError(err)) throw err;
      const wire = toWire(err, 'eiam', 'mfa_challenge', basic);
      req.log.info({ kind: err.kind, cause: (err.cause as string | undefined) ?? err.detail }, 'mfa challenge refused');
      return sendWire(reply, wire);
    }
  });
}
