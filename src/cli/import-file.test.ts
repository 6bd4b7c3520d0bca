import { describe, expect, it } from 'vitest';
import { formatOf, ImportFileError, readImportRows } from './import-file.ts';

const secret = 'sk-test-import-secret-0123456789';

function fileError(run: () => unknown): ImportFileError {
  try {
    run();
  } catch (error) {
    if (error instanceof ImportFileError) return error;
    throw error;
  }
  throw new Error('expected an ImportFileError');
}

describe('import files', () => {
  it('reads JSON rows, keeping malformed ones with their position and problem', () => {
    const rows = readImportRows(
      JSON.stringify([
        { userId: 'alice', provider: 'openai', credentials: { apiKey: secret, organization: 'org-1' } },
        { userId: 'bob', provider: 'openai', credentials: { apiKey: 42 } },
        { userId: 'carol', provider: 'openai', credentials: { apiKey: secret }, extra: true },
        'not an object',
      ]),
      'json',
    );
    expect(rows[0]).toEqual({
      row: 1,
      ok: true,
      userId: 'alice',
      provider: 'openai',
      credentials: { apiKey: secret, organization: 'org-1' },
    });
    expect(rows[1]).toMatchObject({ row: 2, ok: false, userId: 'bob', provider: 'openai' });
    expect(rows[1]?.ok === false && rows[1].problem).toContain('credentials.apiKey');
    expect(rows[2]).toMatchObject({ row: 3, ok: false, userId: 'carol' });
    expect(rows[3]).toMatchObject({ row: 4, ok: false, userId: undefined });
    expect(JSON.stringify(rows.slice(1))).not.toContain(secret);
  });

  it('reads CSV rows by the header, leaving empty cells out and numbering rows by line', () => {
    const rows = readImportRows(
      `userId,provider,apiKey,organization\r\nalice, openai ,${secret},\r\nbob,openai\r\n"carol",mistral,"${secret}","org ""x"""\r\n`,
      'csv',
    );
    expect(rows).toEqual([
      {
        row: 2,
        ok: true,
        userId: 'alice',
        provider: 'openai',
        credentials: { apiKey: secret },
        emptyFields: ['organization'],
      },
      {
        row: 3,
        ok: false,
        userId: 'bob',
        provider: 'openai',
        problem: 'has 2 fields, the header has 4',
      },
      {
        row: 4,
        ok: true,
        userId: 'carol',
        provider: 'mistral',
        credentials: { apiKey: secret, organization: 'org "x"' },
      },
    ]);
  });

  it('refuses a file it cannot read as a whole, without quoting its content', () => {
    expect(fileError(() => readImportRows(`[{"apiKey": "${secret}" oops}]`, 'json')).message).toMatch(
      /^the file is not valid JSON/,
    );
    expect(fileError(() => readImportRows(`[{"apiKey": "${secret}" oops}]`, 'json')).message).not.toContain(
      secret.slice(4, 20),
    );
    expect(fileError(() => readImportRows('{"userId": "a"}', 'json')).message).toContain('must be an array');
    expect(fileError(() => readImportRows('user,provider,apiKey\n', 'csv')).message).toContain(
      'userId,provider',
    );
    expect(fileError(() => readImportRows('userId,provider,apiKey,apiKey\n', 'csv')).message).toContain(
      'twice',
    );
    expect(fileError(() => readImportRows(`userId,provider,apiKey\na,b,"${secret}\n`, 'csv')).message).toBe(
      'the CSV file is malformed at line 2: a quoted field is never closed',
    );
  });

  it('takes the format from --format or the file name', () => {
    expect(formatOf('keys.CSV', undefined)).toBe('csv');
    expect(formatOf('keys.json', undefined)).toBe('json');
    expect(formatOf('keys.txt', 'csv')).toBe('csv');
    expect(fileError(() => formatOf('keys.txt', undefined)).message).toContain('--format');
  });
});
