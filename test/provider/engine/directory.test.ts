/**
 * The user directory against both stores: create/update/delete/get/find with unique identifiers,
 * stable ids, and the config seed as an upsert by username.
 */
import t from 'tap';
import { ManualClock } from '../../../src/clock.js';
import { Directory, DirectoryConflictError, UserNotFoundError, identifierShape, normalizePhone } from '../../../src/provider/engine/directory.js';
import { storeKinds } from '../../helpers/store.js';

t.test('identifier shapes and phone normalization', async (t) => {
  t.equal(identifierShape('alice'), 'username');
  t.equal(identifierShape('alice@example.com'), 'email');
  t.equal(identifierShape('+86 150-8888-8888'), 'phone');
  t.equal(identifierShape('15088888888'), 'phone');
  t.equal(identifierShape('a1'), 'username');
  t.equal(normalizePhone('150 8888 8888'), '+8615088888888');
  t.equal(normalizePhone('8615088888888'), '+8615088888888');
  t.equal(normalizePhone('+1 (555) 010-0000'), '+15550100000');
});

for (const [kind, make] of storeKinds) {
  t.test(`directory on ${kind}`, async (t) => {
    const store = await make();
    t.teardown(() => store.close());
    const dir = new Directory(store, new ManualClock(Date.UTC(2021, 5, 23, 10, 35, 20, 50)));

    const carol = await dir.create({ username: 'Carol', email: 'Carol@Example.com', phone: '13900000000', groups: ['g'] });
    t.match(carol.id, /^20210623103520050-[0-9A-F]{4}-[0-9A-F]{12}$/, 'OneAccess-shaped id');
    t.equal(carol.status, 'active');
    t.equal(carol.mfa, true);
    t.same(await dir.get(carol.id), carol);
    t.equal((await dir.findByUsername('carol'))?.id, carol.id, 'username case-insensitive');
    t.equal((await dir.findByEmail('carol@example.com'))?.id, carol.id);
    t.equal((await dir.findByPhone('+8613900000000'))?.id, carol.id, 'phone normalized');
    t.equal((await dir.findByLogin('13900000000', ['username', 'phone']))?.id, carol.id);
    t.equal(await dir.findByLogin('13900000000', ['username']), null, 'phone not allowed');
    t.ok((await dir.listIds()).includes(carol.id));

    await t.rejects(dir.create({ username: 'carol' }), DirectoryConflictError, 'duplicate username');
    await t.rejects(dir.create({ username: 'dave', email: 'CAROL@example.com' }), DirectoryConflictError, 'duplicate email');
    t.equal(await dir.findByUsername('dave'), null, 'a failed create claims nothing');

    const renamed = await dir.update(carol.id, { username: 'caroline', phone: '+8613911111111', status: 'disabled' });
    t.equal(renamed.id, carol.id);
    t.equal(renamed.status, 'disabled');
    t.equal(await dir.findByUsername('carol'), null, 'old name released');
    t.equal(await dir.findByPhone('13900000000'), null, 'old phone released');
    t.equal((await dir.findByUsername('caroline'))?.id, carol.id);
    const dave = await dir.create({ username: 'carol', phone: '13900000000' });
    t.not(dave.id, carol.id, 'released names can be reused');
    await t.rejects(dir.update(dave.id, { email: 'carol@example.com' }), DirectoryConflictError);
    await t.rejects(dir.update('nope', { name: 'x' }), UserNotFoundError);

    t.equal(await dir.delete(carol.id), true);
    t.equal(await dir.get(carol.id), null);
    t.equal(await dir.findByEmail('carol@example.com'), null, 'indexes gone');
    t.equal(await dir.delete(carol.id), false);

    await dir.seed([{ username: 'erin', passwordHash: '$scrypt$x', groups: ['a'], status: 'active', mfa: false }]);
    const erin = await dir.findByUsername('erin');
    await dir.seed([{ username: 'erin', passwordHash: '$scrypt$y', groups: ['b'], status: 'locked', mfa: true, email: 'erin@example.com' }]);
    const again = await dir.findByUsername('erin');
    t.equal(again?.id, erin?.id, 'seeding again keeps the id');
    t.same(again?.groups, ['b'], 'config wins on seeded fields');
    t.equal(again?.status, 'locked');
    t.equal((await dir.findByEmail('erin@example.com'))?.id, erin?.id);
    await t.rejects(dir.seed([{ username: 'frank', email: 'erin@example.com', groups: [], status: 'active', mfa: true }]), /provider\.users\[0\]\.email/);
  });
}
