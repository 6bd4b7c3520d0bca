import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { LineBlocks, lazyChildLogger, loggerOptions } from './logging.ts';

/** Request loggers are made on first use; what they write still carries the request id and is redacted. */
function serverWithLines() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
  });
  const server = Fastify({
    logger: loggerOptions({ level: 'info', stream }),
    childLoggerFactory: lazyChildLogger,
    genReqId: () => 'req_test',
  });
  return { server, lines };
}

describe('request loggers', () => {
  it('write with the request id, redact secrets, and skip levels that are off', async () => {
    const { server, lines } = serverWithLines();
    const canary = 'sk-canary-0d1e2f3a4b5c';
    server.get('/', async (request) => {
      request.log.debug('not written at info');
      request.log.warn({ headers: { authorization: `Bearer ${canary}` }, detail: 'kept' }, 'something odd');
      request.log.child({ step: 'inner' }).info({ apiKey: canary }, 'nested');
      return 'ok';
    });
    const response = await server.inject({ url: '/' });
    expect(response.statusCode).toBe(200);
    await server.close();
    const text = JSON.stringify(lines);
    expect(text).not.toContain(canary);
    expect(text).not.toContain('not written at info');
    const warned = lines.find((line) => line.msg === 'something odd');
    expect(warned).toMatchObject({ reqId: 'req_test', detail: 'kept', level: 40 });
    expect(warned?.headers).toEqual({ authorization: '[redacted]' });
    expect(lines.find((line) => line.msg === 'nested')).toMatchObject({
      reqId: 'req_test',
      step: 'inner',
      apiKey: '[redacted]',
    });
  });

  it('follow a level set on them', async () => {
    const { server, lines } = serverWithLines();
    server.get('/', async (request) => {
      request.log.level = 'debug';
      request.log.debug('now written');
      return request.log.level;
    });
    const response = await server.inject({ url: '/' });
    expect(response.body).toBe('debug');
    await server.close();
    expect(lines.find((line) => line.msg === 'now written')).toMatchObject({ reqId: 'req_test', level: 20 });
  });
});

describe('standard output', () => {
  it('is written in blocks, yet a line appears within the flush interval and the last ones at exit', async () => {
    // A child process logs one line, waits, logs a second and exits: both must reach its stdout.
    const script = `
      import pino from 'pino';
      import { loggerOptions } from ${JSON.stringify(new URL('./logging.ts', import.meta.url).href)};
      const log = pino(loggerOptions({ level: 'info' }));
      log.info('first line');
      setTimeout(() => { process.stderr.write('waited\\n'); log.info('last line'); }, 400);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe' });
    const events: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line) events.push(JSON.parse(line).msg);
    });
    child.stderr.on('data', (chunk: Buffer) => events.push(chunk.toString('utf8').trim()));
    const [code] = (await once(child, 'close')) as [number];
    expect(code).toBe(0);
    // Not held back until the 4 KiB block filled: the first line came before the wait ended.
    expect(events).toEqual(['first line', 'waited', 'last line']);
  });
});

describe('log line blocks', () => {
  it('hands 32 KiB of lines to the destination as one write, and a lone line after at most 100 ms', async () => {
    const writes: string[] = [];
    const blocks = new LineBlocks({ write: (text: string) => writes.push(text) > 0 });
    const line = `${JSON.stringify({ msg: 'request completed', pad: 'x'.repeat(300) })}\n`;
    const perBlock = Math.ceil((32 * 1024) / line.length);
    for (let index = 0; index < perBlock * 2; index += 1) blocks.write(line);
    expect(writes).toHaveLength(2);
    expect(writes[0]).toBe(line.repeat(perBlock));
    blocks.write('last\n');
    expect(writes).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(writes).toEqual([line.repeat(perBlock), line.repeat(perBlock), 'last\n']);
  });

  it('writes what is pending on flushSync, then flushes the destination', () => {
    const calls: string[] = [];
    const blocks = new LineBlocks({
      write: (text: string) => calls.push(`write ${text}`) > 0,
      flushSync: () => calls.push('flushSync'),
    });
    blocks.write('a\n');
    blocks.write('b\n');
    blocks.flushSync();
    blocks.flushSync();
    expect(calls).toEqual(['write a\nb\n', 'flushSync', 'flushSync']);
  });
});
