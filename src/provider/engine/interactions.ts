/**
 * Login interactions: an authorization request parked while the user is at the login page (and,
 * later, the second-factor page). The browser carries the handle as `p_state` (the Tencent portal's
 * name, T1); the store keeps `ix:{sha256(handle)}` with the request and a CSRF token the login form
 * must echo (double-submitted in a cookie by the dialect).
 */
import type { KvStore } from '../../store/store.js';
import { epochSeconds, type Clock } from '../../clock.js';
import { hashHandle, randomHandle } from '../../crypto/secrets.js';
import type { AuthorizationRequest } from './authorize.js';

export interface Interaction {
  readonly id: string;
  readonly request: AuthorizationRequest;
  readonly csrf: string;
  /** epoch seconds */
  readonly exp: number;
}

/** Ten minutes to type a password (and an SMS code). */
export const INTERACTION_TTL = 600;

const HANDLE = /^[A-Za-z0-9_-]{20,128}$/;

export class Interactions {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
  ) {}

  async create(request: AuthorizationRequest): Promise<Interaction> {
    const ix: Interaction = { id: randomHandle(), request, csrf: randomHandle(24), exp: epochSeconds(this.clock) + INTERACTION_TTL };
    const { id, ...stored } = ix;
    await this.store.set(`ix:${hashHandle(id)}`, JSON.stringify(stored), INTERACTION_TTL);
    return ix;
  }

  async get(id: string | undefined): Promise<Interaction | null> {
    if (!id || !HANDLE.test(id)) return null;
    const raw = await this.store.get(`ix:${hashHandle(id)}`);
    if (!raw) return null;
    const ix = { id, ...(JSON.parse(raw) as Omit<Interaction, 'id'>) };
    return ix.exp > epochSeconds(this.clock) ? ix : null;
  }

  /** Ends an interaction once it produced a code (one login per handle). */
  async finish(id: string): Promise<boolean> {
    return (await this.store.take(`ix:${hashHandle(id)}`)) !== null;
  }
}
