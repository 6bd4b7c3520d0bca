import { describe, expect, it } from 'vitest';
import { clientResponseHeaders, upstreamRequestHeaders, withoutKeyParameter } from './forward-headers.ts';
import { upstreamTarget } from './gateway.ts';

describe('upstream URLs', () => {
  // What each official SDK sends when its base URL is <keyhaven>/v1/<mount>.
  const cases = [
    [
      'https://api.openai.com/v1',
      'openai',
      '/v1/openai/chat/completions',
      'https://api.openai.com',
      '/v1/chat/completions',
    ],
    [
      'http://127.0.0.1:9100/openai/v1',
      'openai',
      '/v1/openai/models?limit=2',
      'http://127.0.0.1:9100',
      '/openai/v1/models?limit=2',
    ],
    [
      'https://api.anthropic.com',
      'anthropic',
      '/v1/anthropic/v1/messages?beta=true',
      'https://api.anthropic.com',
      '/v1/messages?beta=true',
    ],
    [
      'http://127.0.0.1:9100/anthropic',
      'anthropic',
      '/v1/anthropic/v1/messages',
      'http://127.0.0.1:9100',
      '/anthropic/v1/messages',
    ],
    [
      'https://generativelanguage.googleapis.com',
      'gemini',
      '/v1/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
      'https://generativelanguage.googleapis.com',
      '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    ],
    [
      'https://api.mistral.ai/',
      'mistral',
      '/v1/mistral/v1/chat/completions',
      'https://api.mistral.ai',
      '/v1/chat/completions',
    ],
  ] as const;

  it.each(cases)('%s + %s: %s', (base, mount, url, origin, path) => {
    expect(upstreamTarget(base, mount, url)).toMatchObject({ origin, path });
  });

  it('drops a key query parameter and keeps the rest as written', () => {
    expect(
      upstreamTarget('https://g.example', 'gemini', '/v1/gemini/v1beta/models?key=abc&pageSize=2&x=%20').path,
    ).toBe('/v1beta/models?pageSize=2&x=%20');
    expect(withoutKeyParameter('?k%65y=abc')).toBe('');
    expect(withoutKeyParameter('?keys=1')).toBe('?keys=1');
  });

  it('refuses dot segments and encoded slashes', () => {
    for (const url of ['/v1/openai/../admin', '/v1/openai/%2e%2e/x', '/v1/openai/a%2Fb', '/v1/openai/./x']) {
      expect(() => upstreamTarget('https://api.openai.com/v1', 'openai', url), url).toThrow(/dot segments/);
    }
  });
});

describe('headers', () => {
  it('strips client credentials, x-keyhaven-* and hop-by-hop headers toward the provider', () => {
    const headers = upstreamRequestHeaders(
      {
        host: 'keyhaven.example',
        authorization: 'Bearer khu_token',
        'x-api-key': 'khu_token',
        'x-goog-api-key': 'khu_token',
        cookie: 'a=b',
        'x-keyhaven-user': 'u',
        connection: 'keep-alive, x-hop',
        'x-hop': '1',
        'transfer-encoding': 'chunked',
        'content-length': '10',
        'accept-encoding': 'gzip',
        'openai-beta': 'assistants=v2',
        'user-agent': 'OpenAI/JS 7',
      },
      { authorization: 'Bearer sk-user' },
    );
    expect(headers).toEqual({
      authorization: 'Bearer sk-user',
      'accept-encoding': 'identity',
      'openai-beta': 'assistants=v2',
      'user-agent': 'OpenAI/JS 7',
    });
  });

  it('keeps provider headers toward the client but not cookies, x-keyhaven-* or hop-by-hop ones', () => {
    expect(
      clientResponseHeaders(
        {
          'content-type': 'text/event-stream',
          'content-length': '99',
          'retry-after': '7',
          'x-ratelimit-remaining-requests': '59',
          'set-cookie': ['__cf_bm=1'],
          'x-keyhaven-credential': 'spoofed:9',
          'transfer-encoding': 'chunked',
          connection: 'keep-alive',
          'keep-alive': 'timeout=5',
        },
        { dropContentLength: true },
      ),
    ).toEqual({
      'content-type': 'text/event-stream',
      'retry-after': '7',
      'x-ratelimit-remaining-requests': '59',
    });
  });
});
