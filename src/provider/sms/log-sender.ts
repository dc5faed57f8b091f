/**
 * The development sender: writes the code to the log at warn level, loudly marked. The ONLY place
 * in menshen where a one-time code may reach a log line; never select it in production.
 */
import { maskPhone, type SmsMessage, type SmsSender } from './sender.js';

export interface WarnLogger {
  warn(obj: object, msg: string): void;
}

export class LogSmsSender implements SmsSender {
  readonly kind = 'log';

  constructor(private readonly log: WarnLogger) {}

  async send(m: SmsMessage): Promise<void> {
    this.log.warn(
      { smsDevelopmentOnly: true, phone: maskPhone(m.phone), purpose: m.purpose, expiresIn: m.expiresIn, code: m.code },
      `DEVELOPMENT ONLY (provider.mfa.sms.sender: log): SMS code ${m.code} for ${maskPhone(m.phone)}; configure sender: webhook in production`,
    );
  }
}
