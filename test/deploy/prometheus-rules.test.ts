/**
 * deploy/prometheus/: the rules pass `promtool check rules`, their unit tests pass `promtool test rules`, the example
 * configuration passes `promtool check config`, and every alert of the rule file has a unit test that expects it to
 * fire and one that expects it not to (so a rule cannot be added untested).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { runPromtool } from '../helpers/promtool.ts';

const dir = join(import.meta.dirname, '..', '..', 'deploy', 'prometheus');
const RULES = 'edgeloop-rules.yml';
const TESTS = 'edgeloop-rules.test.yml';

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string }> }>;
}
interface RuleTests {
  tests: Array<{ name: string; alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

function copyOfRules(): string {
  const tmp = mkdtempSync(join(tmpdir(), 'el-rules-'));
  onTestFinished(() => rmSync(tmp, { recursive: true, force: true }));
  cpSync(dir, tmp, { recursive: true });
  return tmp;
}

describe('Prometheus rules (deploy/prometheus)', () => {
  it('pass promtool check rules', () => {
    const r = runPromtool(['check', 'rules', RULES], { cwd: dir });
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.status).toBe(0);
  });

  it('pass their promtool unit tests', () => {
    const r = runPromtool(['test', 'rules', TESTS], { cwd: dir });
    expect(r.output).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
  });

  it('the example prometheus.yml passes promtool check config', () => {
    const r = runPromtool(['check', 'config', 'prometheus.yml'], { cwd: dir });
    expect(r.output).toMatch(/is valid prometheus config file syntax/);
    expect(r.status).toBe(0);
  });

  it('every alert has a firing and a quiet case in the unit tests', () => {
    const rules = parse(readFileSync(join(dir, RULES), 'utf8')) as RuleFile;
    const tests = parse(readFileSync(join(dir, TESTS), 'utf8')) as RuleTests;
    const alerts = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    expect(alerts.length).toBeGreaterThanOrEqual(9);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const fires = new Set(cases.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname));
    const quiet = new Set(cases.filter((c) => c.exp_alerts.length === 0).map((c) => c.alertname));
    expect(
      alerts.filter((a) => !fires.has(a)),
      'alerts never expected to fire',
    ).toEqual([]);
    expect(
      alerts.filter((a) => !quiet.has(a)),
      'alerts never expected to stay quiet',
    ).toEqual([]);
    expect(
      [...fires, ...quiet].filter((a) => !alerts.includes(a)),
      'tests of alerts that do not exist',
    ).toEqual([]);
  });

  it('the unit tests catch a changed threshold (they can fail)', () => {
    const tmp = copyOfRules();
    const file = join(tmp, RULES);
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        'edgeloop:ingest_dead_letter_ratio:rate5m > 0.01',
        'edgeloop:ingest_dead_letter_ratio:rate5m > 0.03',
      ),
    );
    const r = runPromtool(['test', 'rules', TESTS], { cwd: tmp });
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/alertname: EdgeloopDeadLetterRate/);
  });
});
