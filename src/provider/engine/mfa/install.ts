/**
 * Plugs the SMS second factor into an engine: the SecondFactor seam and the `mfa_oob` grant
 * (with its Auth0 alias). Only when provider.mfa.sms.enabled: otherwise no login ever needs it and
 * the grant is not served (nor advertised in discovery).
 */
import type { SmsSender } from '../../sms/sender.js';
import type { Engine } from '../engine.js';
import { mfaOobGrant } from '../grants/mfa-oob.js';
import { SmsMfa } from './sms-mfa.js';

export function installSmsMfa(engine: Engine, sender: SmsSender): SmsMfa | null {
  const config = engine.config.mfa.sms;
  if (!config.enabled) return null;
  const mfa = new SmsMfa({ store: engine.store, clock: engine.clock, config, sender, log: engine.log });
  engine.secondFactor = mfa;
  engine.grants.register(mfaOobGrant(mfa));
  return mfa;
}
