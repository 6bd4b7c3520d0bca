import { z } from 'zod';
import { CsvError, parseCsv } from './csv.ts';

/**
 * The rows of a `keyhaven import` file. JSON: an array of {userId, provider, credentials: {...}}. CSV: a
 * header `userId,provider,<credential field>...` (for example `userId,provider,apiKey,organization`),
 * then one row per credential; an empty cell leaves that field out. A row that does not have this shape
 * is kept with the problem, so the import can report it and go on with the others.
 *
 * Row numbers: JSON, the position in the array (1 = first); CSV, the line the row starts on (the header
 * is line 1), as a spreadsheet numbers its rows.
 */
export type ImportFormat = 'json' | 'csv';

export type ImportRow =
  | {
      row: number;
      ok: true;
      userId: string;
      provider: string;
      credentials: Record<string, string>;
      /** CSV columns left empty in this row (left out of credentials), to explain a missing field. */
      emptyFields?: string[];
    }
  | { row: number; ok: false; userId: string | undefined; provider: string | undefined; problem: string };

/** A file that cannot be read as a whole (the import stops before touching anything). */
export class ImportFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportFileError';
  }
}

const rowSchema = z.strictObject({
  userId: z.string().trim().min(1, 'must not be empty'),
  provider: z.string().trim().min(1, 'must not be empty'),
  credentials: z.record(z.string(), z.string()),
});

/** Zod's messages name the rule and the path, never the value; keep only those. */
function describe(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.join('.') : 'row'}: ${issue.message}`)
    .join('; ');
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value.trim() : undefined;
}

export function formatOf(file: string, format: string | undefined): ImportFormat {
  if (format === 'json' || format === 'csv') return format;
  if (/\.json$/i.test(file)) return 'json';
  if (/\.csv$/i.test(file)) return 'csv';
  throw new ImportFileError(
    `cannot tell the format of ${file} from its name; pass --format json or --format csv`,
  );
}

export function readImportRows(content: string, format: ImportFormat): ImportRow[] {
  return format === 'json' ? jsonRows(content) : csvRows(content);
}

function jsonRows(content: string): ImportRow[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content.startsWith('\uFEFF') ? content.slice(1) : content);
  } catch (error) {
    // V8's message can quote the text around the error, which may be an API key: keep only where.
    const where = /(position \d+(?: \(line \d+ column \d+\))?)/.exec(
      error instanceof Error ? error.message : '',
    )?.[1];
    throw new ImportFileError(`the file is not valid JSON${where ? ` (at ${where})` : ''}`);
  }
  if (!Array.isArray(parsed)) {
    throw new ImportFileError(
      'a JSON import must be an array of {"userId": ..., "provider": ..., "credentials": {...}}',
    );
  }
  return parsed.map((entry: unknown, index): ImportRow => {
    const row = index + 1;
    const result = rowSchema.safeParse(entry);
    if (result.success) return { row, ok: true, ...result.data };
    const loose = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>) : {};
    return {
      row,
      ok: false,
      userId: text(loose.userId),
      provider: text(loose.provider),
      problem: describe(result.error),
    };
  });
}

function csvRows(content: string): ImportRow[] {
  let records: ReturnType<typeof parseCsv>;
  try {
    records = parseCsv(content);
  } catch (error) {
    if (error instanceof CsvError) throw new ImportFileError(`the CSV file is malformed at ${error.message}`);
    throw error;
  }
  const [header, ...rows] = records;
  const columns = header?.fields.map((name) => name.trim()) ?? [];
  if (columns[0] !== 'userId' || columns[1] !== 'provider' || columns.length < 3) {
    throw new ImportFileError(
      'the CSV header must be userId,provider followed by credential fields, e.g. userId,provider,apiKey,organization',
    );
  }
  const fieldNames = columns.slice(2);
  if (fieldNames.some((name) => name === ''))
    throw new ImportFileError('the CSV header has an empty column name');
  if (new Set(columns).size !== columns.length)
    throw new ImportFileError('the CSV header names a column twice');
  return rows.map(({ line, fields }): ImportRow => {
    const userId = fields[0]?.trim();
    const provider = fields[1]?.trim();
    if (fields.length !== columns.length) {
      return {
        row: line,
        ok: false,
        userId,
        provider,
        problem: `has ${fields.length} fields, the header has ${columns.length}`,
      };
    }
    const credentials: Record<string, string> = {};
    const emptyFields: string[] = [];
    fieldNames.forEach((name, index) => {
      const value = fields[index + 2] ?? '';
      if (value === '') emptyFields.push(name);
      else credentials[name] = value;
    });
    const result = rowSchema.safeParse({ userId, provider, credentials });
    if (result.success)
      return { row: line, ok: true, ...result.data, ...(emptyFields.length ? { emptyFields } : {}) };
    return { row: line, ok: false, userId, provider, problem: describe(result.error) };
  });
}
