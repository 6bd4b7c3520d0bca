/**
 * Deterministic simulated model output and token counts: the same request always gets the same answer,
 * so tests can assert exact usage. Roughly one token per word or punctuation mark, as real tokenizers
 * count English.
 */
export function countTokens(text: string): number {
  const matches = text.match(/[A-Za-z0-9]+|[^\sA-Za-z0-9]/g);
  return Math.max(1, matches?.length ?? 0);
}

const WORDS = [
  'Simulated',
  'reply',
  'from',
  'the',
  'Keyhaven',
  'provider',
  'simulator',
  'for',
  'your',
  'request',
];

/** The reply: `maxTokens` words at most (default 12), as a list of chunks for streaming. */
export function simulatedReply(prompt: string, maxTokens = 12): string[] {
  const echo = prompt.trim().split(/\s+/).slice(0, 3).join(' ');
  const words = [...WORDS, 'about', ...(echo ? echo.split(' ') : []), '.'];
  const limited = words.slice(0, Math.max(1, Math.min(maxTokens, words.length)));
  return limited.map((word, index) => (index === 0 || word === '.' ? word : ` ${word}`));
}
