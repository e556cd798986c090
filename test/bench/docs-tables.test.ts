import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { layoutTable, renderTable, type TableLayout, writeTables } from '../../bench/lib/docs-tables.ts';
import { type BenchFigure, BenchReport, type BenchResult, figureLine } from '../../bench/lib/report.ts';
import { TABLE_LAYOUTS } from '../../bench/lib/table-layouts.ts';

const fixture = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'models.json'), 'utf8')) as BenchResult;

describe('benchmark tables from JSON results', () => {
  it('renders figure, raw limit and ratio, and says when the machine was under load', () => {
    expect(renderTable(fixture)).toBe(
      [
        'Generated from `bench/results/models.json`: 2026-12-03 19:00 UTC, git abc1234, 2 cores, node v20.0.0, load average 14.2 (under load).',
        '',
        '| figure | value | raw limit, same run | ratio |',
        '|---|---|---|---|',
        '| batch 1, session.run, p99 | 60.2 µs | 54.9 µs | 1.10 |',
        '| batch 64 | 2.50M windows/s | 4.00M rows/s | 0.63 |',
        '| model file | 20.2 KiB |  |  |',
      ].join('\n'),
    );
  });

  it('replaces only what stands between the markers of a result it has, and says which', () => {
    const page = [
      '# Benchmarks',
      'hand-written method',
      '<!-- bench:models -->',
      'old table',
      '<!-- /bench:models -->',
      'hand-written reading',
      '<!-- bench:agent -->',
      'agent table kept',
      '<!-- /bench:agent -->',
    ].join('\n');
    const { markdown, updated } = writeTables(page, [fixture, { ...fixture, name: 'pipeline' }]);
    expect(updated).toEqual(['models']);
    expect(markdown).not.toContain('old table');
    expect(markdown).toContain(`<!-- bench:models -->\n${renderTable(fixture)}\n<!-- /bench:models -->`);
    expect(markdown).toContain('hand-written method\n');
    expect(markdown).toContain('hand-written reading\n<!-- bench:agent -->\nagent table kept');
    // idempotent
    expect(writeTables(markdown, [fixture]).markdown).toBe(markdown);
  });

  it('writes a result file a table can be made from', () => {
    const dir = mkdtempSync(join(tmpdir(), 'el-bench-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const report = new BenchReport('unit-test');
    report.figure({ label: 'rows/s', value: 1234, unit: 'rows/s', raw: 2468 });
    const r = JSON.parse(readFileSync(report.write(dir), 'utf8')) as BenchResult;
    expect(r).toMatchObject({ name: 'unit-test', figures: [{ label: 'rows/s', value: 1234, raw: 2468 }] });
    expect(r.load).toHaveLength(3);
    expect(figureLine(r.figures[0]!)).toBe('rows/s: 1234 rows/s; raw limit 2468 rows/s (ratio 0.50)');
    expect(() => new BenchReport('Bad Name')).toThrow(/kebab-case/);
  });
});

const docsDir = join(import.meta.dirname, 'fixtures', 'docs');
/** results holding the figures docs/benchmarks.md shows today, one per marked table of a laid-out bench */
const docsResults = readdirSync(docsDir).map((f) => JSON.parse(readFileSync(join(docsDir, f), 'utf8')) as BenchResult);
const page = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'benchmarks.md'), 'utf8');

function section(markdown: string, name: string): string {
  const start = `<!-- bench:${name} -->\n`;
  const i = markdown.indexOf(start);
  const j = markdown.indexOf(`\n<!-- /bench:${name} -->`);
  if (i < 0 || j < i) throw new Error(`no marked table ${name}`);
  return markdown.slice(i + start.length, j);
}

const result = (figures: BenchFigure[]): BenchResult => ({ ...fixture, name: 't', figures });

describe('the tables of docs/benchmarks.md', () => {
  it('has a result of the figures it shows for every laid-out bench, and a marked table for each', () => {
    expect(docsResults.map((r) => r.name).sort()).toEqual(Object.keys(TABLE_LAYOUTS).sort());
    for (const r of docsResults) expect(page).toContain(`<!-- bench:${r.name} -->`);
  });

  it.each(docsResults.map((r) => [r.name, r] as const))(
    'regenerates the %s table as it stands from a result of its figures',
    (name, r) => {
      const { lines, missing } = layoutTable(r, TABLE_LAYOUTS[name]!);
      expect(missing).toEqual([]);
      expect(lines.length).toBeGreaterThan(2);
      expect(renderTable(r, TABLE_LAYOUTS[name])).toBe(section(page, name));
    },
  );

  it('leaves the page byte for byte as it is when regenerated from those results, or from none', () => {
    expect(writeTables(page, docsResults, TABLE_LAYOUTS).markdown).toBe(page);
    expect(writeTables(page, [], TABLE_LAYOUTS)).toEqual({ markdown: page, updated: [], missing: [] });
  });
});

describe('a laid-out table', () => {
  const figures: BenchFigure[] = [
    { config: 'a', label: 'rate', value: 282_479, unit: 'readings/s', raw: 1_001_663, decimals: 0 },
    { config: 'b', label: 'rate', value: 99_000, unit: 'readings/s', raw: 1_001_663, decimals: 0 },
    { config: 'a', label: 'rss', value: 111.1, unit: 'MB', decimals: 1, target: { op: '<=', value: 120 } },
    { config: 'b', label: 'rss', value: 121, unit: 'MB', decimals: 1, target: { op: '<=', value: 120 } },
    { config: 'a', label: 'p50', value: 1, unit: 'ms', raw: 0, maxDecimals: 2 },
    { config: 'a', label: 'p95', value: 6.25, unit: 'ms', raw: 1.13, maxDecimals: 2, target: { op: '<', value: 100 } },
    { config: 'a', label: 'windows', value: 500_209, unit: 'windows', decimals: 0 },
    { config: 'a', label: 'messages', value: 1347, unit: 'messages', decimals: 0 },
  ];

  it('keys rows by label and columns by configuration, with joined parts, units, bold and targets', () => {
    const layout: TableLayout = {
      head: 'figure',
      columns: [
        { title: 'A', config: 'a' },
        { title: 'B', config: 'b', bold: false, target: false },
      ],
      rows: [
        { title: 'rate', label: 'rate', unit: false, bold: true },
        { title: 'rss', label: 'rss', target: true },
        { title: 'p50 / p95', label: ['p50', 'p95'] },
        { title: 'windows / messages', label: ['windows', 'messages'], unit: false },
        { title: 'value vs raw', label: 'rate', field: ['value', 'raw'], join: ' vs ' },
        { title: 'of raw', label: 'rate', field: 'percent', decimals: 1 },
        { title: 'p95 < 100 ms', label: 'p95', field: 'met' },
      ],
    };
    expect(layoutTable(result(figures), layout)).toEqual({
      lines: [
        '| figure | A | B |',
        '|---|---|---|',
        '| rate | **282,479** | 99,000 |',
        '| rss | 111.1 MB (target ≤ 120 MB: met) | 121.0 MB |',
        '| p50 / p95 | 1 / 6.25 ms |  |',
        '| windows / messages | 500,209 / 1,347 |  |',
        '| value vs raw | 282,479 vs 1,001,663 readings/s | 99,000 vs 1,001,663 readings/s |',
        '| of raw | 28.2 % | 9.9 % |',
        '| p95 < 100 ms | yes |  |',
      ],
      missing: ['p50 [b]', 'p95 [b]', 'windows [b]', 'messages [b]'],
    });
  });

  it('keys rows by configuration and columns by label and field, and shows each part with its unit', () => {
    const layout: TableLayout = {
      head: 'run',
      columns: [
        { title: 'raw p50 / p95 ms', label: ['p50', 'p95'], field: 'raw', unit: false },
        { title: 'ratio', label: ['p50', 'p95'], field: 'ratio' },
        { title: 'rate / rss', label: ['rate', 'rss'] },
      ],
      rows: [{ title: 'A', config: 'a' }],
    };
    expect(layoutTable(result(figures), layout).lines).toEqual([
      '| run | raw p50 / p95 ms | ratio | rate / rss |',
      '|---|---|---|---|',
      // a raw limit of 0 has no ratio
      '| A | 0 / 1.13 | 5.53 | 282,479 readings/s / 111.1 MB |',
    ]);
  });

  it('leaves out the rows and columns a run has no figure for (a part skipped by its flags)', () => {
    const layout: TableLayout = {
      head: 'figure',
      columns: [
        { title: 'A', config: 'a' },
        { title: 'C', config: 'c' },
      ],
      rows: [
        { title: 'rate', label: 'rate' },
        { title: 'shadow', label: 'shadow' },
      ],
    };
    expect(layoutTable(result(figures), layout)).toEqual({
      lines: ['| figure | A |', '|---|---|', '| rate | 282,479 readings/s |'],
      missing: [],
    });
  });

  it('is used by writeTables for the results it has a layout for, which says what a result lacks', () => {
    const layout: TableLayout = {
      head: 'figure',
      columns: [{ title: 'A', config: 'a' }],
      rows: [{ title: 'p', label: ['p50', 'p99'] }],
    };
    const md = '<!-- bench:t -->\nold\n<!-- /bench:t -->\n';
    const { markdown, missing } = writeTables(md, [result(figures)], { t: layout });
    expect(markdown).toBe(`<!-- bench:t -->\n${renderTable(result(figures), layout)}\n<!-- /bench:t -->\n`);
    expect(markdown).toContain('| p | 1 ms |');
    expect(missing).toEqual(['t: p99 [a]']);
  });

  it('prints a figure with its configuration, decimals and target', () => {
    expect(figureLine(figures[0]!)).toBe('[a] rate: 282,479 readings/s; raw limit 1,001,663 readings/s (ratio 0.28)');
    expect(figureLine(figures[3]!)).toBe('[b] rss: 121.0 MB (target ≤ 120 MB: not met)');
  });
});
