import { describe, expect, it } from 'vitest';
import { CsvError, parseCsv } from './csv.ts';

const fields = (text: string) => parseCsv(text).map((record) => record.fields);

describe('parseCsv (RFC 4180)', () => {
  it('splits records on CRLF or LF and fields on commas, keeping empty fields', () => {
    expect(fields('a,b,c\r\n1,,3\n4,5,\n')).toEqual([
      ['a', 'b', 'c'],
      ['1', '', '3'],
      ['4', '5', ''],
    ]);
  });

  it('reads quoted fields holding commas, doubled quotes and line breaks', () => {
    const records = parseCsv('id,note\r\n1,"a, b"\r\n2,"say ""hi"""\r\n3,"two\r\nlines"\r\n4,""\r\n');
    expect(records.map((record) => record.fields)).toEqual([
      ['id', 'note'],
      ['1', 'a, b'],
      ['2', 'say "hi"'],
      ['3', 'two\r\nlines'],
      ['4', ''],
    ]);
    // A record's line is where it starts; a quoted line break moves the next record down.
    expect(records.map((record) => record.line)).toEqual([1, 2, 3, 4, 6]);
  });

  it('accepts a last record without a line break, a byte order mark, and skips blank lines', () => {
    expect(fields('\uFEFFa,b\n\n1,2')).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
    expect(parseCsv('a\n\n\nb\n').map((record) => record.line)).toEqual([1, 4]);
    expect(fields('')).toEqual([]);
    // A line of one quoted empty field is a record, not a blank line.
    expect(fields('""\n')).toEqual([['']]);
  });

  it('keeps spaces as data, as the RFC says', () => {
    expect(fields(' a , b ')).toEqual([[' a ', ' b ']]);
  });

  it('refuses malformed quoting with the line number and without quoting the text', () => {
    const secret = 'sk-secret-value-1234';
    const cases: [string, number, string][] = [
      [`a,b\n1,"${secret}\n2,3\n`, 2, 'never closed'],
      [`a,b\n1,"${secret}"x\n`, 2, 'after a closing quote'],
      [`a,b\n\n1,ab"${secret}"\n`, 3, 'quote inside an unquoted field'],
    ];
    for (const [text, line, message] of cases) {
      let thrown: unknown;
      try {
        parseCsv(text);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(CsvError);
      expect((thrown as CsvError).line).toBe(line);
      expect((thrown as CsvError).message).toContain(message);
      expect((thrown as CsvError).message).not.toContain(secret);
    }
  });
});
