import { REDACTED } from './secret-value.ts';

/**
 * Removes secret values from text that came from elsewhere (a provider's error message, a URL), in the
 * plain, URL-encoded and base64 forms a secret is most often echoed in.
 */
export function redactSecrets(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    for (const form of new Set([
      secret,
      encodeURIComponent(secret),
      Buffer.from(secret).toString('base64'),
    ])) {
      out = out.split(form).join(REDACTED);
    }
  }
  return out;
}
