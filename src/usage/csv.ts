/**
 * CSV (RFC 4180): comma-separated, CRLF line ends, a field quoted when it holds a comma, a quote, CR or
 * LF, quotes doubled. Text that a spreadsheet would run as a formula (starting with = + - @, a tab or a
 * CR) gets a leading apostrophe (the OWASP CSV-injection rule): model ids and request ids come from
 * clients. Numbers are written as they are.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvText(value: string | null | undefined): string {
  if (value === null || value === undefined) return '';
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function csvNumber(value: number | string | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  // Only plain decimal numbers pass unquoted; anything else is treated as text.
  return /^-?\d+(\.\d+)?$/.test(text) ? text : csvText(text);
}

export function csvLine(cells: readonly string[]): string {
  return `${cells.join(',')}\r\n`;
}

/** Exact decimal USD from integer micro-USD: "4020" -> "0.004020". */
export function microToUsdText(micro: string | number | bigint): string {
  const value = BigInt(micro);
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(7, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -6)}.${digits.slice(-6)}`;
}
