/**
 * The SmsSender seam (STYLE.md §2): how a one-time code reaches a phone. Two senders ship:
 * `log` (development: the code goes to the log) and `webhook` (POST JSON to an operator's SMS
 * gateway). A sender that cannot deliver throws SmsDeliveryError; callers answer a clear error
 * instead of waiting (the login does not hang, the user is told).
 */

/** What a sender delivers; the webhook body is exactly this object (DESIGN.md §2). */
export interface SmsMessage {
  /** E.164-style phone number of the user */
  readonly phone: string;
  /** the digits the user types back */
  readonly code: string;
  /** why the code was sent: `login` (the second factor of a password login) */
  readonly purpose: SmsPurpose;
  /** seconds the code stays valid */
  readonly expiresIn: number;
}

export type SmsPurpose = 'login';

export interface SmsSender {
  /** `log` | `webhook`: for logs and metrics */
  readonly kind: string;
  /** Resolves once the message was accepted for delivery; throws SmsDeliveryError otherwise. */
  send(message: SmsMessage): Promise<void>;
}

/** The message could not be handed over (timeout, refused, non-2xx answer). Never carries the code. */
export class SmsDeliveryError extends Error {
  constructor(
    message: string,
    readonly reason: 'timeout' | 'network' | 'rejected',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SmsDeliveryError';
  }
}

/** +8613800001234 -> +86138****1234: enough for a user or an operator to recognise the number. */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  if (digits.length < 7) return '*'.repeat(phone.length);
  const tail = phone.slice(-4);
  const head = phone.slice(0, phone.length - 8 > 0 ? phone.length - 8 : 3);
  return `${head}****${tail}`;
}
