/** Route policy and forward-auth constraints as tables (pomerium style): allow block x identity -> decision. */
import t from 'tap';
import type { RouteConfig } from '../../src/config/schema.js';
import { authorize, authorizeQuery, claimValue, parseEmail, type Identity } from '../../src/gateway/policy.js';

type Allow = RouteConfig['allow'];
const allowOf = (a: Partial<Allow>): Allow => ({ groups: [], users: [], claims: {}, ...a });

const alice: Identity = {
  sub: 'u-alice',
  preferred_username: 'alice',
  email: 'alice@example.com',
  groups: ['staff', 'eng'],
  claims: {
    sub: 'u-alice',
    department: 'sales',
    roles: ['reader', 'writer'],
    level: 3,
    email_verified: true,
    address: { country: 'CN', city: 'Shenzhen' },
    'https://example.com/tenant': 'acme',
    nothing: null,
    nested: { deep: { value: 'x' } },
  },
};
const bob: Identity = { sub: 'u-bob', preferred_username: 'bob', groups: [], claims: { department: 'ops' } };
const noGroups: Identity = { sub: 'u-carol', claims: {} };

t.test('authorize table', async (t) => {
  const rows: [name: string, allow: Partial<Allow>, id: Identity, want: boolean][] = [
    ['empty allow admits any signed-in user', {}, bob, true],
    ['empty allow admits a user with no groups or claims', {}, noGroups, true],
    // users
    ['user by sub', { users: ['u-alice'] }, alice, true],
    ['user not by preferred_username (sub only by default)', { users: ['alice'] }, alice, false],
    ['user not listed', { users: ['alice'] }, bob, false],
    ['users are case-sensitive', { users: ['Alice'] }, alice, false],
    ['users do not match emails', { users: ['alice@example.com'] }, alice, false],
    ['users do not match a prefix', { users: ['alic'] }, alice, false],
    ['user without preferred_username matched by sub', { users: ['u-carol'] }, noGroups, true],
    // groups
    ['group member', { groups: ['staff'] }, alice, true],
    ['any of the groups', { groups: ['admins', 'eng'] }, alice, true],
    ['not a member', { groups: ['admins'] }, alice, false],
    ['groups are case-sensitive', { groups: ['Staff'] }, alice, false],
    ['no groups at all', { groups: ['staff'] }, noGroups, false],
    ['empty groups list on identity', { groups: ['staff'] }, bob, false],
    // claims
    ['string claim equal', { claims: { department: 'sales' } }, alice, true],
    ['string claim different', { claims: { department: 'ops' } }, alice, false],
    ['claim any-of list', { claims: { department: ['ops', 'sales'] } }, alice, true],
    ['claim any-of list, none', { claims: { department: ['ops', 'hr'] } }, alice, false],
    ['array claim contains wanted', { claims: { roles: 'writer' } }, alice, true],
    ['array claim contains one of wanted', { claims: { roles: ['admin', 'reader'] } }, alice, true],
    ['array claim lacks wanted', { claims: { roles: 'admin' } }, alice, false],
    ['number claim by its spelling', { claims: { level: '3' } }, alice, true],
    ['number claim different', { claims: { level: '03' } }, alice, false],
    ['boolean claim', { claims: { email_verified: 'true' } }, alice, true],
    ['boolean claim false wanted', { claims: { email_verified: 'false' } }, alice, false],
    ['nested claim by dotted path', { claims: { 'address.country': 'CN' } }, alice, true],
    ['deep nested claim', { claims: { 'nested.deep.value': 'x' } }, alice, true],
    ['dotted path to an object never matches', { claims: { 'nested.deep': 'x' } }, alice, false],
    ['object claim never matches', { claims: { address: '[object Object]' } }, alice, false],
    ['URL-named claim taken as a name first', { claims: { 'https://example.com/tenant': 'acme' } }, alice, true],
    ['null claim never matches', { claims: { nothing: 'null' } }, alice, false],
    ['absent claim never matches', { claims: { missing: '' } }, alice, false],
    ['every claim must match (all do)', { claims: { department: 'sales', 'address.country': 'CN' } }, alice, true],
    ['every claim must match (one does not)', { claims: { department: 'sales', 'address.country': 'US' } }, alice, false],
    ['claims do not leak from another user', { claims: { department: 'sales' } }, bob, false],
    // combinations: ANY criterion admits
    ['user listed, group not', { users: ['u-bob'], groups: ['admins'] }, bob, true],
    ['group member, user not listed', { users: ['bob'], groups: ['staff'] }, alice, true],
    ['claims match, group and user do not', { users: ['bob'], groups: ['admins'], claims: { department: 'sales' } }, alice, true],
    ['nothing matches', { users: ['bob'], groups: ['admins'], claims: { department: 'ops' } }, alice, false],
    ['group member although claims fail', { groups: ['eng'], claims: { department: 'ops' } }, alice, true],
    // identity shape
    ['no subject is never admitted, even with empty allow', {}, { sub: '', claims: {} }, false],
    ['no subject is never admitted by groups', { groups: ['staff'] }, { sub: '', groups: ['staff'], claims: {} }, false],
  ];
  for (const [name, allow, id, want] of rows) {
    const got = authorize(allowOf(allow), id);
    t.equal(got.allow, want, name);
    if (!got.allow) t.type(got.reason, 'string', `${name}: has a reason`);
  }
});

t.test('allow.users: preferred_username only with usernames on (the built-in provider as issuer)', async (t) => {
  // OIDC Core §5.7: only iss+sub is stable; an external issuer may let anyone pick 'alice'.
  const impostor: Identity = { sub: 'u-mallory', preferred_username: 'alice', claims: { sub: 'u-mallory', preferred_username: 'alice' } };
  const rows: [name: string, allow: Partial<Allow>, id: Identity, usernames: boolean, want: boolean][] = [
    ['default: a chosen username does not match', { users: ['alice'] }, impostor, false, false],
    ['default: the real user by username does not match either', { users: ['alice'] }, alice, false, false],
    ['default: sub matches', { users: ['u-alice'] }, alice, false, true],
    ['usernames on: username matches', { users: ['alice'] }, alice, true, true],
    ['usernames on: sub still matches', { users: ['u-alice'] }, alice, true, true],
    ['usernames on: exact and case-sensitive', { users: ['Alice'] }, alice, true, false],
    ['usernames on: no username, no match', { users: ['carol'] }, noGroups, true, false],
  ];
  for (const [name, allow, id, usernames, want] of rows) t.equal(authorize(allowOf(allow), id, { usernames }).allow, want, name);
  t.equal(authorize(allowOf({ claims: { preferred_username: 'alice' } }), impostor).allow, true, 'a username rule stays possible, spelled out as a claims rule');
});

t.test('claims in identity do not stand in for the users/groups fields', async (t) => {
  const sneaky: Identity = { sub: 'u-x', claims: { groups: ['admins'], preferred_username: 'admin' } };
  t.equal(authorize(allowOf({ groups: ['admins'] }), sneaky).allow, false, 'groups come from id.groups only');
  t.equal(authorize(allowOf({ users: ['admin'] }), sneaky, { usernames: true }).allow, false, 'users from sub / preferred_username only');
  t.equal(authorize(allowOf({ claims: { groups: 'admins' } }), sneaky).allow, true, 'but a claims rule may name any claim');
});

t.test('claimValue', async (t) => {
  t.equal(claimValue(alice.claims, 'department'), 'sales');
  t.equal(claimValue(alice.claims, 'address.city'), 'Shenzhen');
  t.equal(claimValue(alice.claims, 'address.zip'), undefined);
  t.equal(claimValue(alice.claims, 'roles.0'), undefined, 'no indexing into arrays');
  t.equal(claimValue(alice.claims, 'toString'), undefined, 'no prototype members');
  t.equal(claimValue(alice.claims, 'address.constructor'), undefined, 'no prototype members on nested objects');
  t.equal(claimValue({ 'a.b': 1, a: { b: 2 } }, 'a.b'), 1, 'an exact key wins over a path');
});

t.test('parseEmail', async (t) => {
  const rows: [string | undefined, { local: string; domain: string } | null][] = [
    ['alice@example.com', { local: 'alice', domain: 'example.com' }],
    ['Alice@EXAMPLE.com', { local: 'Alice', domain: 'example.com' }],
    ['a@b@evil.com', null],
    ['alice@example.com@evil.com', null],
    ['"a@b"@evil.com', null],
    ['@example.com', null],
    ['alice@', null],
    ['alice', null],
    ['', null],
    ['alice @example.com', null],
    ['alice@example.com\n', null],
    [undefined, null],
  ];
  for (const [email, want] of rows) t.same(parseEmail(email), want, String(email));
});

t.test('authorizeQuery table', async (t) => {
  const rows: [name: string, query: string, id: Identity, want: boolean][] = [
    ['no constraints', '', alice, true],
    ['unrelated parameters are ignored', 'rd=/x&foo=bar', bob, true],
    ['empty allowed_groups is no constraint', 'allowed_groups=', bob, true],
    ['only commas is no constraint', 'allowed_groups=,,', bob, true],
    ['group member', 'allowed_groups=staff', alice, true],
    ['one of several groups', 'allowed_groups=admins,eng', alice, true],
    ['spaces around names trimmed', 'allowed_groups=admins,%20eng%20', alice, true],
    ['repeated parameter adds values', 'allowed_groups=admins&allowed_groups=staff', alice, true],
    ['not a member', 'allowed_groups=admins', alice, false],
    ['no groups', 'allowed_groups=staff', noGroups, false],
    ['groups are case-sensitive', 'allowed_groups=STAFF', alice, false],
    ['allowed email', 'allowed_emails=alice@example.com', alice, true],
    ['allowed email, domain case-insensitive', 'allowed_emails=alice@EXAMPLE.COM', alice, true],
    ['allowed email, local part case-sensitive', 'allowed_emails=ALICE@example.com', alice, false],
    ['one of several emails', 'allowed_emails=bob@example.com,alice@example.com', alice, true],
    ['email not listed', 'allowed_emails=bob@example.com', alice, false],
    ['no email on the identity', 'allowed_emails=bob@example.com', bob, false],
    ['allowed domain', 'allowed_email_domains=example.com', alice, true],
    ['allowed domain, case-insensitive', 'allowed_email_domains=Example.COM', alice, true],
    ['other domain', 'allowed_email_domains=example.org', alice, false],
    ['domain suffix is not the domain', 'allowed_email_domains=ample.com', alice, false],
    ['wildcard admits subdomains', 'allowed_email_domains=*.example.com', { ...alice, email: 'a@eu.example.com' }, true],
    ['wildcard admits deeper subdomains', 'allowed_email_domains=*.example.com', { ...alice, email: 'a@x.eu.example.com' }, true],
    ['wildcard does not admit the apex', 'allowed_email_domains=*.example.com', alice, false],
    ['wildcard does not admit lookalikes', 'allowed_email_domains=*.example.com', { ...alice, email: 'a@evilexample.com' }, false],
    ['subdomain needs a wildcard', 'allowed_email_domains=example.com', { ...alice, email: 'a@eu.example.com' }, false],
    ['domain constraint with no email', 'allowed_email_domains=example.com', bob, false],
    // GHSA-c5c4-8r6x-56w3: several '@'
    ['multi-@ email against a domain', 'allowed_email_domains=example.com', { ...alice, email: 'attacker@evil.com@example.com' }, false],
    ['multi-@ email against the other domain', 'allowed_email_domains=evil.com', { ...alice, email: 'attacker@evil.com@example.com' }, false],
    ['multi-@ email against an address', 'allowed_emails=evil.com@example.com', { ...alice, email: 'attacker@evil.com@example.com' }, false],
    ['multi-@ email against its own spelling', `allowed_emails=${encodeURIComponent('a@b@example.com')}`, { ...alice, email: 'a@b@example.com' }, false],
    ['domain lookalike with trailing dot', 'allowed_email_domains=example.com', { ...alice, email: 'a@example.com.' }, false],
    // AND across parameters
    ['groups and domain both hold', 'allowed_groups=staff&allowed_email_domains=example.com', alice, true],
    ['groups hold, domain does not', 'allowed_groups=staff&allowed_email_domains=example.org', alice, false],
    ['domain holds, groups do not', 'allowed_groups=admins&allowed_email_domains=example.com', alice, false],
    ['email and domain both hold', 'allowed_emails=alice@example.com&allowed_email_domains=example.com', alice, true],
    ['email holds, domain does not', 'allowed_emails=alice@example.com&allowed_email_domains=example.org', alice, false],
  ];
  for (const [name, query, id, want] of rows) {
    const got = authorizeQuery(new URLSearchParams(query), id);
    t.equal(got.allow, want, `${name} (?${query})`);
    if (!got.allow) t.type(got.reason, 'string');
  }
});
