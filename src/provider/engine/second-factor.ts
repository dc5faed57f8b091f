/**
 * The second-factor seam. The password grant and the login page call it after the password has
 * been verified; the SMS MFA work plugs its implementation in with `engine.secondFactor = ...`
 * (and registers its `mfa_oob` grant and challenge routes) without touching them.
 */
import type { Client } from './clients.js';
import type { User } from './directory.js';
import type { AuthorizationRequest } from './authorize.js';

/** A password-verified login of the password grant waiting for its second factor. */
export interface PendingGrantLogin {
  readonly user: User;
  readonly client: Client;
  readonly scope: readonly string[];
  readonly issuer: string;
  readonly authSourceId: string;
  /** whether the finished grant should issue a refresh token (EIAM's password grant does not) */
  readonly issueRefresh: boolean;
}

/** A password-verified login at the login page waiting for its second factor. */
export interface PendingInteractionLogin {
  readonly user: User;
  readonly client: Client;
  /** the parked authorize request (p_state) the login belongs to */
  readonly interactionId: string;
  readonly request: AuthorizationRequest;
}

export interface SecondFactor {
  /** Does this login need a second step? Called after a correct password only. */
  required(user: User, client: Client): boolean | Promise<boolean>;
  /**
   * Password grant: parks the login and returns the `mfa_token` the client presents next
   * (EIAM: answered 403 `mfa_required`, protocols.md §5.1).
   */
  beginGrant(pending: PendingGrantLogin): Promise<string>;
  /**
   * Login page: parks the login and returns the path (under the provider mount, e.g.
   * `/login/sms?p_state=...`) the browser is sent to for the second step; that step finishes with
   * `engine.completeLogin(...)`.
   */
  beginInteraction(pending: PendingInteractionLogin): Promise<string>;
}

/** The default: no second factor is ever required. */
export const noSecondFactor: SecondFactor = {
  required: () => false,
  beginGrant: () => Promise.reject(new Error('no second factor configured')),
  beginInteraction: () => Promise.reject(new Error('no second factor configured')),
};
