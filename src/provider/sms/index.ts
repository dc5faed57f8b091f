/** Builds the configured SmsSender (provider.mfa.sms.sender). */
import type { SmsConfig } from '../../config/schema.js';
import { LogSmsSender, type WarnLogger } from './log-sender.js';
import type { SmsSender } from './sender.js';
import { WebhookSmsSender } from './webhook-sender.js';

export { SmsDeliveryError, maskPhone, type SmsMessage, type SmsSender, type SmsPurpose } from './sender.js';

export function createSmsSender(config: SmsConfig, log: WarnLogger): SmsSender {
  if (config.sender === 'webhook')
    return new WebhookSmsSender({ url: config.webhook.url, headers: config.webhook.headers, timeoutMs: config.webhook.timeoutMs });
  return new LogSmsSender(log);
}
