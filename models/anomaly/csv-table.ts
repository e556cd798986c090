/**
 * A small RFC 4180 CSV reader with separator detection (",", ";", tab, "|"), quoted fields ("" escapes a quote),
 * CRLF or LF line ends and a UTF-8 byte-order mark. Pure: parses text; readCsvFile adds the file read.
 */
import { readFileSync } from 'node:fs';
import { EdgeloopError } from '../../protocol/errors.ts';

export const CSV_SEPARATORS = [',', ';', '\t', '|'] as const;

export interface CsvTable {
  separator: string;
  header: string[];
  /** data rows (header excluded), each with header.length cells */
  rows: string[][];
  /** 1-based line number in the file of each data row (for error messages) */
  lines: number[];
}

/** The candidate that splits the header line into the most fields (outside quotes); "," when none occurs. */
export function detectSeparator(headerLine: string): string {
  let best: string = ',';
  let bestCount = 0;
  for (const sep of CSV_SEPARATORS) {
    let count = 0;
    let quoted = false;
    for (const ch of headerLine) {
      if (ch === '"') quoted = !quoted;
      else if (!quoted && ch === sep) count++;
    }
    if (count > bestCount) {
      best = sep;
      bestCount = count;
    }
  }
  return best;
}

export function parseCsv(text: string, opts: { separator?: string; source?: string } = {}): CsvTable {
  const source = opts.source ?? 'CSV';
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const firstLineEnd = text.search(/\r?\n/);
  const separator = opts.separator ?? detectSeparator(firstLineEnd < 0 ? text : text.slice(0, firstLineEnd));
  if (separator.length !== 1 || separator === '"' || separator === '\n' || separator === '\r') {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `CSV separator must be one character other than a quote or line end, got ${JSON.stringify(separator)}`,
    );
  }
  const records: string[][] = [];
  const lines: number[] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let fieldStarted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && !fieldStarted) {
      quoted = true;
      fieldStarted = true;
    } else if (ch === separator) {
      record.push(field);
      field = '';
      fieldStarted = false;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      record.push(field);
      if (!(record.length === 1 && record[0] === '')) {
        records.push(record);
        lines.push(recordLine);
      }
      record = [];
      field = '';
      fieldStarted = false;
      line++;
      recordLine = line;
    } else {
      field += ch;
      fieldStarted = true;
    }
  }
  if (quoted)
    throw new EdgeloopError(
      'EL_ERR_DATA_INVALID',
      `${source}: unterminated quoted field starting on line ${recordLine}`,
    );
  record.push(field);
  if (!(record.length === 1 && record[0] === '')) {
    records.push(record);
    lines.push(recordLine);
  }
  if (records.length === 0)
    throw new EdgeloopError('EL_ERR_DATA_INVALID', `${source}: the file is empty (no header line)`);
  const header = records[0]!.map((h) => h.trim());
  const seen = new Set<string>();
  header.forEach((h, i) => {
    if (!h) throw new EdgeloopError('EL_ERR_DATA_INVALID', `${source}: column ${i + 1} of the header has no name`);
    if (seen.has(h))
      throw new EdgeloopError('EL_ERR_DATA_INVALID', `${source}: column "${h}" appears twice in the header`);
    seen.add(h);
  });
  const rows = records.slice(1);
  const rowLines = lines.slice(1);
  rows.forEach((r, i) => {
    if (r.length !== header.length) {
      throw new EdgeloopError(
        'EL_ERR_DATA_INVALID',
        `${source} line ${rowLines[i]}: ${r.length} fields, the header has ${header.length} (separator ${JSON.stringify(separator)})`,
      );
    }
  });
  return { separator, header, rows, lines: rowLines };
}

export function readCsvFile(file: string, opts: { separator?: string } = {}): CsvTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_DATA_INVALID', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  return parseCsv(text, { ...opts, source: file });
}
