import { inspect } from 'node:util';

const REDACTED = '[REDACTED]';

/**
 * A secret in memory. Every way of printing it (String(), template strings, JSON.stringify,
 * util.inspect, console.log) gives "[REDACTED]"; only reveal() yields the value, at the outbound call.
 */
export class SecretValue {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  get length(): number {
    return this.#value.length;
  }

  equals(other: SecretValue): boolean {
    return this.#value === other.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

export { REDACTED };
