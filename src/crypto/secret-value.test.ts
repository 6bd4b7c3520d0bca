import { Console } from 'node:console';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { format, inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { redactSecrets } from './redact.ts';
import { REDACTED, SecretValue } from './secret-value.ts';

/** Security test 21: a SecretValue prints as [REDACTED] every way it can be printed. */

const raw = `sk-CANARY-${randomBytes(12).toString('hex')}`;
const secret = new SecretValue(raw);
const entity = { id: 'cred_0001', provider: 'openai', apiKey: secret, nested: { list: [secret] } };

function forms(value: string): string[] {
  const bytes = Buffer.from(value);
  return [
    value,
    bytes.toString('hex'),
    bytes.toString('base64'),
    bytes.toString('base64url'),
    value.slice(3, 20),
  ];
}

function expectRedacted(output: string, label: string) {
  expect(output, label).toContain(REDACTED);
  for (const form of forms(raw)) expect(output.includes(form), `${label} shows the secret`).toBe(false);
}

/** A real node Console writing into a string, so the formatting is exactly console.log's. */
function capturingConsole() {
  let output = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      output += chunk.toString();
      callback();
    },
  });
  return { console: new Console({ stdout: stream, stderr: stream, colorMode: false }), output: () => output };
}

describe('SecretValue', () => {
  it('reveal() gives the value, and the redacted constant is [REDACTED]', () => {
    expect(secret.reveal()).toBe(raw);
    expect(REDACTED).toBe('[REDACTED]');
    expect(secret.length).toBe(raw.length);
  });

  it.each([
    ['String()', () => String(secret)],
    ['template string', () => `${secret}`],
    ['concatenation', () => `key: ${secret}`],
    // biome-ignore lint/style/useTemplate: + converts with the "default" hint, a template with "string".
    ['+ operator', () => 'key: ' + secret],
    ['toString()', () => secret.toString()],
    ['JSON.stringify', () => JSON.stringify(secret)],
    ['util.inspect', () => inspect(secret)],
    ['util.format %s %o %O %j', () => format('%s %o %O %j', secret, secret, secret, secret)],
  ])('of the value itself: %s', (label, print) => {
    expectRedacted(print(), label);
  });

  it('util.inspect with custom inspectors off still shows nothing (the value is a private field)', () => {
    const output = inspect(secret, { customInspect: false, showHidden: true, getters: true });
    for (const form of forms(raw)) expect(output).not.toContain(form);
  });

  it.each([
    ['JSON.stringify', () => JSON.stringify(entity)],
    ['util.inspect', () => inspect(entity, { depth: 10 })],
    ['util.format %o', () => format('%o', entity)],
    ['String() of an array', () => String([secret, secret])],
    ['template string of an array', () => `${[secret]}`],
    // biome-ignore lint/style/useTemplate: + converts with the "default" hint, a template with "string".
    ['+ operator on an array', () => 'keys: ' + [secret]],
    ['inspect of a Map and Set', () => inspect(new Map([['apiKey', secret]])) + inspect(new Set([secret]))],
    ['an error whose cause is a secret', () => inspect(new Error('upstream failed', { cause: secret }))],
  ])('of an object containing one: %s', (label, print) => {
    expectRedacted(print(), label);
  });

  it('console.log, info, warn, error, dir and table (captured)', () => {
    const capture = capturingConsole();
    capture.console.log(secret);
    capture.console.log('%s and %o', secret, entity);
    capture.console.log(entity);
    capture.console.info(`key=${secret}`);
    capture.console.warn({ secret });
    capture.console.error('failed', entity);
    capture.console.dir(entity, { depth: 10 });
    capture.console.table([entity]);
    const output = capture.output();
    expectRedacted(output, 'console');
    expect(output.split(REDACTED).length).toBeGreaterThan(8);
  });

  it('spreading, Object.entries and structuredClone do not expose the value', () => {
    const outputs = [
      JSON.stringify({ ...secret }),
      JSON.stringify(Object.entries(secret)),
      JSON.stringify(Object.getOwnPropertyNames(secret).map((name) => Reflect.get(secret, name))),
      inspect(structuredClone(entity), { depth: 10 }),
    ];
    for (const output of outputs) expect(output).not.toContain(raw);
  });

  it('equals compares the values without revealing them', () => {
    expect(secret.equals(new SecretValue(raw))).toBe(true);
    expect(secret.equals(new SecretValue(`${raw}x`))).toBe(false);
  });
});

describe('redactSecrets', () => {
  it('removes the plain, URL-encoded and base64 forms of each secret', () => {
    const special = 'sk/with+special=chars&more';
    const text = [
      `Incorrect API key provided: ${raw}.`,
      `url: https://example.test/?key=${encodeURIComponent(special)}`,
      `basic: ${Buffer.from(special).toString('base64')}`,
      `again ${raw}${raw}`,
    ].join('\n');
    const redacted = redactSecrets(text, [raw, special]);
    for (const form of [raw, special, encodeURIComponent(special), Buffer.from(special).toString('base64')]) {
      expect(redacted).not.toContain(form);
    }
    expect(redacted.split(REDACTED).length - 1).toBe(5);
    expect(redacted).toContain('Incorrect API key provided: [REDACTED].');
  });

  it('leaves text without secrets unchanged and ignores secrets shorter than 4 characters', () => {
    expect(redactSecrets('nothing to see', [raw])).toBe('nothing to see');
    expect(redactSecrets('a ab abc', ['a', 'ab', 'abc'])).toBe('a ab abc');
  });
});
