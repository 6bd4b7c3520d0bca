import { describe, expect, it } from 'vitest';
import { assertPublicUrl, isPublicAddress } from './public-url.ts';

const resolveTo =
  (...addresses: string[]) =>
  async () =>
    addresses;

describe('outbound URL check', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '0.0.0.0',
    '100.64.0.1',
    '::1',
    '::',
    'fc00::1',
    'fe80::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '224.0.0.1',
    'not an address',
  ])('treats %s as not public', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111'])('treats %s as public', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  it('refuses loopback, metadata and private hosts, literal or resolved', async () => {
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://[::1]/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[::ffff:7f00:1]/hook',
    ]) {
      await expect(assertPublicUrl(url, 'webhookUrl', { allowPrivate: false })).rejects.toMatchObject({
        code: 'invalid_request',
      });
    }
    await expect(
      assertPublicUrl('https://internal.example/hook', 'webhookUrl', {
        allowPrivate: false,
        resolve: resolveTo('93.184.216.34', '10.0.0.5'),
      }),
    ).rejects.toThrow(/private address/);
  });

  it('accepts a host whose every address is public', async () => {
    const url = await assertPublicUrl('https://hooks.example/x', 'webhookUrl', {
      allowPrivate: false,
      resolve: resolveTo('93.184.216.34'),
    });
    expect(url.hostname).toBe('hooks.example');
  });

  it('allows private addresses only when configured, and never other schemes or embedded credentials', async () => {
    await expect(
      assertPublicUrl('http://127.0.0.1:9/hook', 'webhookUrl', { allowPrivate: true }),
    ).resolves.toBeInstanceOf(URL);
    for (const url of ['file:///etc/passwd', 'ftp://example.com/x', 'https://user:pw@example.com/', 'nope']) {
      await expect(assertPublicUrl(url, 'image', { allowPrivate: true })).rejects.toMatchObject({
        code: 'invalid_request',
      });
    }
  });

  it('refuses a host that does not resolve', async () => {
    await expect(
      assertPublicUrl('https://nowhere.invalid/x', 'webhookUrl', {
        allowPrivate: false,
        resolve: async () => {
          throw new Error('ENOTFOUND');
        },
      }),
    ).rejects.toThrow(/does not resolve/);
  });
});
