/** A masked key shows at most its last 4 characters, fewer for short secrets, none for very short ones. */
export function maskSecret(secret: string): string {
  const visible = secret.length >= 16 ? 4 : secret.length >= 10 ? 2 : 0;
  return `****${visible > 0 ? secret.slice(-visible) : ''}`;
}
