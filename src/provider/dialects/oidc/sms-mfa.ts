/**
 * The SMS second factor's part of the Tencent dialect: builds the configured sender, plugs the SMS
 * second factor into the engine (SecondFactor seam + mfa_oob grant, engine/mfa/install.ts) and
 * mounts its routes: EIAM's `POST /auth/mfa/challenge` and the login page's SMS step. Nothing is
 * mounted while provider.mfa.sms.enabled is false.
 */
import type { FastifyInstance } from 'fastify';
import type { DialectContext } from '../../dialect.js';
import { installSmsMfa } from '../../engine/mfa/install.js';
import { createSmsSender } from '../../sms/index.js';
import { loginSmsRoutes } from './login-sms.js';
import { mfaChallengeRoutes } from './mfa-challenge.js';

export async function smsMfaDialect(app: FastifyInstance, ctx: DialectContext): Promise<void> {
  const { engine } = ctx;
  const mfa = installSmsMfa(engine, createSmsSender(engine.config.mfa.sms, engine.log));
  if (!mfa) return;
  if (engine.config.mfa.sms.sender === 'log')
    engine.log.warn({}, 'provider.mfa.sms.sender is log: SMS codes go to the log (development only)');
  mfaChallengeRoutes(app, ctx, mfa);
  loginSmsRoutes(app, ctx, mfa);
}
