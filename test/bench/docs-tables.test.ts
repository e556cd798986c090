import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { renderTable, writeTables } from '../../bench/lib/docs-tables.ts';
import { BenchReport, type BenchResult, figureLine } from '../../bench/lib/report.ts';

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
