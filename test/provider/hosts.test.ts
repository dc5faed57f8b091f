/**
 * provider.hosts: the provider answers only on those Host values; the mount follows the issuer path.
 */
import t from 'tap';
import { request } from 'node:http';
import { startProvider } from './helpers.js';

function get(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('provider.hosts', async (t) => {
  const f = await startProvider(t, { hosts: ['sso.example.com'] });
  const path = '/idp/.well-known/openid-configuration';
  const on = await get(f.port, path, 'sso.example.com');
  t.equal(on.status, 200);
  t.equal((await get(f.port, path, 'SSO.example.com:8443')).status, 200, 'case and port do not matter');
  t.equal((await get(f.port, path, 'other.example.com')).status, 404, 'another host is not the provider');
  t.equal((await get(f.port, path, 'sso.example.com.evil.test')).status, 404, 'no suffix tricks');
  t.equal((await get(f.port, '/.well-known/openid-configuration', 'sso.example.com')).status, 404, 'only under the mount');
});
