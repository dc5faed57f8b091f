/**
 * Username + password verification shared by the password grant and the login page, with the
 * seed 001 outcomes (protocols.md T2 d): wrong credentials and unknown users alike are
 * `Wrong username or password`; a login name shaped like an identifier the auth source does not
 * accept is `Unsupported username identifier`; a disabled or locked user, or one locked out by the
 * brute-force counters, is `Abnormal user status`.
 */
import type { AuthSourceConfig } from '../../config/schema.js';
import { verifyPassword } from '../../crypto/password.js';
import type { BruteForceGuard } from './brute-force.js';
import type { Client } from './clients.js';
import { identifierShape, normalizePhone, type Directory, type Identifier, type User } from './directory.js';
import { ProviderError } from './errors.js';

export class AuthSources {
  private readonly byId: Map<string, AuthSourceConfig>;

  constructor(private readonly sources: readonly AuthSourceConfig[]) {
    this.byId = new Map(sources.map((s) => [s.id, s]));
  }

  all(): readonly AuthSourceConfig[] {
    return this.sources;
  }

  /**
   * The auth source a login uses: the one named (it must exist and be associated with the client;
   * a client listing no sources is associated with all), else the client's first, else the first.
   */
  resolve(client: Client, id: string | undefined): AuthSourceConfig {
    const notAssociated = () =>
      new ProviderError('auth_source_not_associated', 'Auth source and application not associated', { param: 'auth_source_id' });
    if (id !== undefined) {
      const source = this.byId.get(id);
      if (!source || (client.authSources.length > 0 && !client.authSources.includes(id))) throw notAssociated();
      return source;
    }
    const source = this.byId.get(client.authSources[0] ?? '') ?? this.sources[0];
    if (!source) throw notAssociated();
    return source;
  }
}

/** The form of a login name the directory would look up (phones normalized, names case-folded). */
function normalizedLogin(login: string, shape: Identifier): string {
  return shape === 'phone' ? normalizePhone(login) : login.toLowerCase();
}

export interface PasswordLoginAttempt {
  login: string;
  password: string;
  ip: string;
  source: AuthSourceConfig;
}

export class PasswordLogin {
  constructor(
    private readonly directory: Directory,
    private readonly guard: BruteForceGuard,
  ) {}

  async verify(a: PasswordLoginAttempt): Promise<User> {
    const allowed = a.source.identifiers;
    const shape = identifierShape(a.login);
    const user = await this.directory.findByLogin(a.login, allowed);
    if (!user && !allowed.includes(shape))
      throw new ProviderError('unsupported_identifier', 'Unsupported username identifier', { param: 'username' });
    // Counted per account, not per spelling: '+8615088888888', '15088888888' and 'alice' are one.
    const attempt = await this.guard.reserve(user ? `id:${user.id}` : `login:${normalizedLogin(a.login, shape)}`, a.ip);
    // One scrypt whether or not the user exists (DUMMY_HASH inside), so timing tells nothing.
    const ok = await verifyPassword(a.password, user?.passwordHash);
    if (!user || !ok) throw new ProviderError('wrong_credentials', 'Wrong username or password');
    if (user.status !== 'active')
      throw new ProviderError('abnormal_user_status', 'Abnormal user status', { cause: `user status ${user.status}` });
    await attempt.succeeded();
    return user;
  }
}
