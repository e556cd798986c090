/**
 * The figure tables of docs/benchmarks.md, generated from bench/results/*.json. A generated table stands between
 * `<!-- bench:<name> -->` and `<!-- /bench:<name> -->`; everything outside the markers (method, readings) is
 * written by hand. A result with a layout (the page's are in bench/lib/table-layouts.ts) gets that table, rows keyed
 * by figure label or configuration and columns chosen per table; any other gets one row per figure with its value,
 * raw limit and ratio. Pure: strings in, strings out.
 */
import {
  type BenchFigure,
  type BenchResult,
  figureNumber,
  formatNumber,
  ratioText,
  targetMet,
  targetText,
} from './report.ts';

/** What a cell shows of each of its figures. */
export type CellField = 'value' | 'raw' | 'ratio' | 'percent' | 'met';

/** What a row or a column contributes to its cells: a cell takes each setting from its row, else its column. */
export interface CellKey {
  /** the cell's figure(s) by label; several are joined (`p50 / p95 / p99`) */
  label?: string | readonly string[];
  /** the figures' configuration (BenchFigure.config) */
  config?: string;
  /** what the cell shows of each figure (default: value); several are joined (`61,800 vs 262,800 windows/s`) */
  field?: CellField | readonly CellField[];
  /** the text between the parts of a cell (default ' / ') */
  join?: string;
  /** false: the cell leaves the unit to the column title */
  unit?: boolean;
  /** decimals of a ratio (default 2) or a percentage (default 0) */
  decimals?: number;
  /** bold when the row or the column asks for it and neither says false */
  bold?: boolean;
  /** append `(target ≥ x: met)` to a value with a target when the row or the column asks and neither says false */
  target?: boolean;
}

export interface TableRow extends CellKey {
  title: string;
}

export interface TableColumn extends CellKey {
  title: string;
}

export interface TableLayout {
  /** title of the first column, the one of the row titles */
  head: string;
  columns: readonly TableColumn[];
  rows: readonly TableRow[];
}

function headerLine(r: BenchResult): string {
  return (
    `Generated from \`bench/results/${r.name}.json\`: ${r.at.slice(0, 16).replace('T', ' ')} UTC, git ${r.git}, ` +
    `${r.machine.cpus} cores, node ${r.machine.node}, load average ${r.load[0].toFixed(1)}` +
    (r.load[0] > r.machine.cpus ? ' (under load)' : '') +
    '.'
  );
}

function defaultTable(r: BenchResult): string[] {
  const lines = ['| figure | value | raw limit, same run | ratio |', '|---|---|---|---|'];
  for (const f of r.figures) {
    const raw = f.raw === undefined ? '' : `${formatNumber(f.raw)} ${f.rawUnit ?? f.unit}`;
    lines.push(`| ${f.label} | ${formatNumber(f.value)} ${f.unit} | ${raw} | ${ratioText(f)} |`);
  }
  return lines;
}

const list = <T>(x: T | readonly T[] | undefined): readonly T[] =>
  x === undefined ? [] : Array.isArray(x) ? (x as readonly T[]) : [x as T];
const asked = (a: boolean | undefined, b: boolean | undefined): boolean =>
  (a || b) === true && a !== false && b !== false;

interface Cell {
  text: string;
  /** labels the result has no figure for */
  missing: string[];
  found: boolean;
}

/** One part of a cell: its text and the unit that follows it (empty for a ratio). */
function part(f: BenchFigure, field: CellField, decimals: number | undefined): { text: string; unit: string } | null {
  const ratio = f.raw === undefined || f.raw === 0 ? undefined : f.value / f.raw;
  switch (field) {
    case 'value':
      return { text: figureNumber(f, f.value), unit: f.unit };
    case 'raw':
      return f.raw === undefined ? null : { text: figureNumber(f, f.raw), unit: f.rawUnit ?? f.unit };
    case 'ratio':
      return ratio === undefined ? null : { text: ratio.toFixed(decimals ?? 2), unit: '' };
    case 'percent':
      return ratio === undefined ? null : { text: (ratio * 100).toFixed(decimals ?? 0), unit: '%' };
    case 'met': {
      const met = targetMet(f);
      return met === undefined ? null : { text: met ? 'yes' : 'no', unit: '' };
    }
  }
}

function cell(r: BenchResult, row: TableRow, col: TableColumn): Cell {
  const config = row.config ?? col.config;
  const labels = list(row.label ?? col.label);
  const fields = list(row.field ?? col.field);
  const withUnit = (row.unit ?? col.unit) !== false;
  const decimals = row.decimals ?? col.decimals;
  const missing: string[] = [];
  const figures: BenchFigure[] = [];
  for (const label of labels) {
    const f = r.figures.find((x) => x.label === label && x.config === config);
    if (f) figures.push(f);
    else missing.push(config === undefined ? label : `${label} [${config}]`);
  }
  const parts = figures.flatMap((f) =>
    (fields.length ? fields : (['value'] as const)).flatMap((field) => part(f, field, decimals) ?? []),
  );
  const units = new Set(parts.map((p) => p.unit));
  const oneUnit = units.size === 1 ? [...units][0]! : undefined;
  const join = row.join ?? col.join ?? ' / ';
  let text =
    oneUnit !== undefined
      ? parts.map((p) => p.text).join(join) + (withUnit && oneUnit ? ` ${oneUnit}` : '')
      : parts.map((p) => (withUnit && p.unit ? `${p.text} ${p.unit}` : p.text)).join(join);
  if (text && asked(row.bold, col.bold)) text = `**${text}**`;
  const only = figures.length === 1 ? figures[0] : undefined;
  if (text && only?.target && asked(row.target, col.target))
    text += ` (${targetText(only, withUnit ? only.unit : '')})`;
  return { text, missing, found: figures.length > 0 };
}

/**
 * The table of `r` laid out by `layout`: rows and columns none of whose cells has a figure in the result are left
 * out (a bench run with a part skipped); `missing` names the figures a kept cell did not find.
 */
export function layoutTable(r: BenchResult, layout: TableLayout): { lines: string[]; missing: string[] } {
  const grid = layout.rows.map((row) => layout.columns.map((col) => cell(r, row, col)));
  const rows = layout.rows.map((_, i) => i).filter((i) => grid[i]!.some((c) => c.found));
  const cols = layout.columns.map((_, j) => j).filter((j) => rows.some((i) => grid[i]![j]!.found));
  const lines = [
    `| ${[layout.head, ...cols.map((j) => layout.columns[j]!.title)].join(' | ')} |`,
    `|${'---|'.repeat(cols.length + 1)}`,
    ...rows.map((i) => `| ${[layout.rows[i]!.title, ...cols.map((j) => grid[i]![j]!.text)].join(' | ')} |`),
  ];
  const missing = rows.flatMap((i) => cols.flatMap((j) => grid[i]![j]!.missing));
  return { lines, missing: [...new Set(missing)] };
}

export function renderTable(r: BenchResult, layout?: TableLayout): string {
  return [headerLine(r), '', ...(layout ? layoutTable(r, layout).lines : defaultTable(r))].join('\n');
}

/**
 * `markdown` with the section of every result that has markers replaced by its table. Returns the names whose
 * markers were found; a result without markers is left out (the page decides what it shows). A result is laid
 * out by `layouts[name]` when there is one; `missing` lists the figures a layout asks for that its result lacks.
 */
export function writeTables(
  markdown: string,
  results: readonly BenchResult[],
  layouts: Readonly<Record<string, TableLayout>> = {},
): { markdown: string; updated: string[]; missing: string[] } {
  let out = markdown;
  const updated: string[] = [];
  const missing: string[] = [];
  for (const r of results) {
    const start = `<!-- bench:${r.name} -->`;
    const end = `<!-- /bench:${r.name} -->`;
    const i = out.indexOf(start);
    const j = out.indexOf(end);
    if (i < 0 || j < i) continue;
    const layout = layouts[r.name];
    out = `${out.slice(0, i + start.length)}\n${renderTable(r, layout)}\n${out.slice(j)}`;
    updated.push(r.name);
    if (layout) missing.push(...layoutTable(r, layout).missing.map((m) => `${r.name}: ${m}`));
  }
  return { markdown: out, updated, missing };
}
