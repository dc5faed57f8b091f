/**
 * The user directory, kept in the KvStore so every replica sees the same users. Seeded from
 * provider.users at start (upsert by username, ids kept), and written later by the OneAccess
 * management API through create/update/delete.
 *
 * Keys: `dir:u:{id}` (the user as JSON), unique indexes `dir:n:{username}`, `dir:p:{phone}`,
 * `dir:e:{email}` -> id (claimed with SET NX so two writers cannot take one name), `dir:all` (ids).
 * Usernames and emails are matched case-insensitively; phones in normalized form (+86 added to a bare
 * 11-digit mainland number).
 */
import { randomBytes } from 'node:crypto';
import type { KvStore } from '../../store/store.js';
import type { Clock } from '../../clock.js';
import type { UserConfig } from '../../config/schema.js';

export type UserStatus = 'active' | 'disabled' | 'locked';
export type Identifier = 'username' | 'phone' | 'email';

export interface User {
  /** Stable id, never reused: the `sub` of every token. */
  readonly id: string;
  readonly username: string;
  readonly passwordHash?: string;
  readonly email?: string;
  readonly phone?: string;
  readonly name?: string;
  readonly nickname?: string;
  readonly groups: readonly string[];
  readonly status: UserStatus;
  /** false exempts the user from the SMS second factor. */
  readonly mfa: boolean;
  /** Primary organization (EIAM ou_id, OneAccess org_id). */
  readonly orgId?: string;
  /** Free-form attributes other dialects keep (OneAccess extension, attr_*). */
  readonly extension?: Readonly<Record<string, string>>;
  /** ms since the epoch */
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What a caller may set; id and timestamps are the directory's. */
export type UserInput = Omit<User, 'id' | 'createdAt' | 'updatedAt' | 'groups' | 'status' | 'mfa'> &
  Partial<Pick<User, 'groups' | 'status' | 'mfa'>>;
export type UserPatch = Partial<UserInput>;

/** A unique attribute (username, phone, email) already belongs to another user. */
export class DirectoryConflictError extends Error {
  constructor(readonly field: Identifier) {
    super(`${field} already in use`);
    this.name = 'DirectoryConflictError';
  }
}

export class UserNotFoundError extends Error {
  constructor(readonly id: string) {
    super('no such user');
    this.name = 'UserNotFoundError';
  }
}

const TEN_YEARS = 10 * 365 * 86400;

export function normalizePhone(raw: string): string {
  const p = raw.replace(/[\s()-]/g, '');
  if (/^1\d{10}$/.test(p)) return `+86${p}`;
  if (/^86\d{11}$/.test(p)) return `+${p}`;
  return p;
}

/** The kind of identifier a login name looks like (seed 001 "Unsupported username identifier"). */
export function identifierShape(login: string): Identifier {
  if (/^[^@\s]+@[^@\s]+$/.test(login)) return 'email';
  if (/^\+?[\d\s()-]{6,24}$/.test(login) && /\d{6}/.test(login.replace(/\D/g, ''))) return 'phone';
  return 'username';
}

const indexKey: Record<Identifier, (v: string) => string> = {
  username: (v) => `dir:n:${v.toLowerCase()}`,
  phone: (v) => `dir:p:${normalizePhone(v)}`,
  email: (v) => `dir:e:${v.toLowerCase()}`,
};

/** OneAccess-looking ids (`20210623103520050-C5AF-DD1A97...`, protocols.md H9): time-sortable, random tail. */
function newUserId(now: number): string {
  const d = new Date(now);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}${p(d.getUTCMilliseconds(), 3)}`;
  const hex = randomBytes(8).toString('hex').toUpperCase();
  return `${stamp}-${hex.slice(0, 4)}-${hex.slice(4)}`;
}

function clean(u: User): User {
  // Drop undefined members so the JSON stays small and equality in tests is simple.
  return Object.fromEntries(Object.entries(u).filter(([, v]) => v !== undefined)) as unknown as User;
}

export class Directory {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
  ) {}

  async get(id: string): Promise<User | null> {
    const raw = await this.store.get(`dir:u:${id}`);
    return raw ? (JSON.parse(raw) as User) : null;
  }

  async findBy(kind: Identifier, value: string): Promise<User | null> {
    if (!value) return null;
    const id = await this.store.get(indexKey[kind](value));
    return id ? this.get(id) : null;
  }

  findByUsername(username: string) {
    return this.findBy('username', username);
  }

  findByPhone(phone: string) {
    return this.findBy('phone', phone);
  }

  findByEmail(email: string) {
    return this.findBy('email', email);
  }

  /** Looks a login name up under each allowed identifier, username first. */
  async findByLogin(login: string, allowed: readonly Identifier[]): Promise<User | null> {
    for (const kind of (['username', 'phone', 'email'] as const).filter((k) => allowed.includes(k))) {
      const u = await this.findBy(kind, login);
      if (u) return u;
    }
    return null;
  }

  /** Every user id (management listing). */
  listIds(): Promise<string[]> {
    return this.store.smembers('dir:all');
  }

  async create(input: UserInput): Promise<User> {
    const now = this.clock.now();
    const user = clean({ groups: [], status: 'active', mfa: true, ...input, id: newUserId(now), createdAt: now, updatedAt: now });
    await this.claimIndexes(user, null);
    await this.store.set(`dir:u:${user.id}`, JSON.stringify(user));
    await this.store.sadd('dir:all', user.id);
    return user;
  }

  async update(id: string, patch: UserPatch): Promise<User> {
    const current = await this.get(id);
    if (!current) throw new UserNotFoundError(id);
    const next = clean({ ...current, ...patch, id, createdAt: current.createdAt, updatedAt: this.clock.now() });
    await this.claimIndexes(next, current);
    await this.store.set(`dir:u:${id}`, JSON.stringify(next));
    await this.releaseIndexes(current, next);
    return next;
  }

  async delete(id: string): Promise<boolean> {
    const current = await this.get(id);
    if (!current) return false;
    await this.store.del(`dir:u:${id}`);
    await this.releaseIndexes(current, null);
    await this.store.srem('dir:all', id);
    return true;
  }

  /** Upserts the configured users by username (config is the source of truth for their fields). */
  async seed(users: readonly UserConfig[]): Promise<void> {
    for (const [i, u] of users.entries()) {
      const fields: UserInput = {
        username: u.username,
        passwordHash: u.passwordHash,
        email: u.email,
        phone: u.phone,
        name: u.name,
        nickname: u.nickname,
        groups: [...u.groups],
        status: u.status,
        mfa: u.mfa,
      };
      try {
        const existing = await this.findByUsername(u.username);
        if (existing) await this.update(existing.id, fields);
        else {
          try {
            await this.create(fields);
          } catch (err) {
            // Another replica seeded it first: update what it created.
            if (!(err instanceof DirectoryConflictError && err.field === 'username')) throw err;
            const raced = await this.findByUsername(u.username);
            if (!raced) throw err;
            await this.update(raced.id, fields);
          }
        }
      } catch (err) {
        if (err instanceof DirectoryConflictError)
          throw new Error(`provider.users[${i}].${err.field}: already belongs to another user in the directory`);
        throw err;
      }
    }
  }

  private identifiers(u: User | null): Array<[Identifier, string]> {
    if (!u) return [];
    const out: Array<[Identifier, string]> = [['username', u.username]];
    if (u.phone) out.push(['phone', u.phone]);
    if (u.email) out.push(['email', u.email]);
    return out;
  }

  /** Claims every index `next` needs that `prev` does not hold; rolls back on a conflict. */
  private async claimIndexes(next: User, prev: User | null): Promise<void> {
    const held = new Set(this.identifiers(prev).map(([k, v]) => indexKey[k](v)));
    const claimed: string[] = [];
    for (const [kind, value] of this.identifiers(next)) {
      const key = indexKey[kind](value);
      if (held.has(key)) continue;
      if (await this.store.setIfAbsent(key, next.id, TEN_YEARS)) {
        claimed.push(key);
        continue;
      }
      // A stale index whose user is gone does not block the name.
      const owner = await this.store.get(key);
      if (owner === next.id || (owner && !(await this.get(owner)))) {
        await this.store.set(key, next.id, TEN_YEARS);
        claimed.push(key);
        continue;
      }
      if (claimed.length) await this.store.del(...claimed);
      throw new DirectoryConflictError(kind);
    }
  }

  private async releaseIndexes(prev: User, next: User | null): Promise<void> {
    const keep = new Set(this.identifiers(next).map(([k, v]) => indexKey[k](v)));
    const drop = this.identifiers(prev)
      .map(([k, v]) => indexKey[k](v))
      .filter((k) => !keep.has(k));
    for (const key of drop) if ((await this.store.get(key)) === prev.id) await this.store.del(key);
  }
}
