/**
 * The production sender: POSTs {"phone","code","purpose","expiresIn"} as JSON to the operator's SMS
 * gateway (provider.mfa.sms.webhook), with the configured headers (e.g. an API key) and a hard
 * timeout. Any answer but 2xx, a redirect included, is a failure: the gateway must accept the
 * message itself. Failures are typed (SmsDeliveryError) and logged without the code, the phone in
 * full, or the URL (which may carry a key).
 */
import { SmsDeliveryError, type SmsMessage, type SmsSender } from './sender.js';

export interface WebhookOptions {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** injectable for tests of the transport itself; default the global fetch */
  readonly fetch?: typeof fetch;
}

export class WebhookSmsSender implements SmsSender {
  readonly kind = 'webhook';
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: WebhookOptions) {
    this.fetchImpl = options.fetch ?? fetch;
  }

  async send(m: SmsMessage): Promise<void> {
    const { url, headers, timeoutMs } = this.options;
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ phone: m.phone, code: m.code, purpose: m.purpose, expiresIn: m.expiresIn }),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw timedOut
        ? new SmsDeliveryError(`SMS webhook did not answer within ${timeoutMs} ms`, 'timeout')
        : new SmsDeliveryError('SMS webhook unreachable', 'network', { cause: (err as Error)?.message });
    }
    // The body is not needed; release the connection either way.
    await response.body?.cancel().catch(() => {});
    if (response.status < 200 || response.status > 299)
      throw new SmsDeliveryError(`SMS webhook answered HTTP ${response.status}`, 'rejected');
  }
}
