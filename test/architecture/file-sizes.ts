/**
 * The file-size rule, without I/O: no source file over MAX_LINES lines unless its first comment block has a line
 * starting `Size:` that gives the reason (one concern that reads best whole, e.g. the part kernel).
 */
export const MAX_LINES = 450;
export const SOURCE_DIRS = ['agent', 'cloud', 'lib', 'protocol', 'transport', 'models', 'simulator', 'cli'];

/** The first comment block of a file (`/** … *\/`, `/* … *\/` or a run of `//` lines), without its markers. */
export function headerComment(text: string): string {
  const t = text.replace(/^#![^\n]*\n/, '').trimStart();
  if (t.startsWith('/*')) {
    const end = t.indexOf('*/');
    return end < 0 ? '' : t.slice(2, end);
  }
  const lines: string[] = [];
  for (const line of t.split('\n')) {
    if (!line.trimStart().startsWith('//')) break;
    lines.push(line.trimStart().slice(2));
  }
  return lines.join('\n');
}

/** The reason a file states for its size, or undefined. */
export function sizeReason(text: string): string | undefined {
  for (const raw of headerComment(text).split('\n')) {
    const line = raw.replace(/^\s*\*?\s?/, '');
    if (line.startsWith('Size:') && line.slice(5).trim().length > 0) return line.slice(5).trim();
  }
  return undefined;
}

export function lineCount(text: string): number {
  if (text.length === 0) return 0;
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

export interface OversizeFile {
  file: string;
  lines: number;
}

/** Files over the limit with no stated reason and no allow-list entry. */
export function oversizeFiles(
  files: ReadonlyArray<{ file: string; text: string }>,
  allowed: ReadonlyMap<string, string> = new Map(),
  max = MAX_LINES,
): OversizeFile[] {
  return files
    .map(({ file, text }) => ({ file, text, lines: lineCount(text) }))
    .filter((f) => f.lines > max && !allowed.has(f.file) && sizeReason(f.text) === undefined)
    .map(({ file, lines }) => ({ file, lines }));
}
