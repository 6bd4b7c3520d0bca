/**
 * A small RFC 4180 CSV reader for `keyhaven import` (one is not worth a dependency): comma-separated
 * fields, records ended by CRLF or LF, fields in double quotes may hold commas, line breaks and doubled
 * quotes (""). A leading UTF-8 byte order mark and blank lines are ignored. Errors give a line number and
 * never quote the text, which holds API keys.
 */
export interface CsvRecord {
  /** The line the record starts on (1-based). */
  line: number;
  fields: string[];
}

export class CsvError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'CsvError';
    this.line = line;
  }
}

export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  const input = text.startsWith('\uFEFF') ? text.slice(1) : text;
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  // Whether the current record has anything in it yet (a quoted empty field counts).
  let started = false;
  let index = 0;

  const endRecord = () => {
    fields.push(field);
    if (started || fields.length > 1 || field !== '') records.push({ line: recordLine, fields });
    fields = [];
    field = '';
    started = false;
  };

  while (index < input.length) {
    const char = input[index];
    if (char === '"') {
      if (field !== '') throw new CsvError(line, 'a quote inside an unquoted field; quote the whole field');
      started = true;
      const openedOn = line;
      index += 1;
      for (;;) {
        if (index >= input.length) throw new CsvError(openedOn, 'a quoted field is never closed');
        const inner = input[index];
        if (inner === '"') {
          if (input[index + 1] === '"') {
            field += '"';
            index += 2;
            continue;
          }
          index += 1;
          break;
        }
        if (inner === '\n') line += 1;
        field += inner;
        index += 1;
      }
      const next = input[index];
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') {
        throw new CsvError(line, 'text after a closing quote; double a quote inside a quoted field ("")');
      }
      continue;
    }
    if (char === ',') {
      started = true;
      fields.push(field);
      field = '';
      index += 1;
      continue;
    }
    if (char === '\r' || char === '\n') {
      index += char === '\r' && input[index + 1] === '\n' ? 2 : 1;
      endRecord();
      line += 1;
      recordLine = line;
      continue;
    }
    started = true;
    field += char;
    index += 1;
  }
  if (started || field !== '' || fields.length > 0) endRecord();
  return records;
}
