/**
 * Every query of the Grafana dashboard (deploy/grafana) and every expression of the Prometheus rules
 * (deploy/prometheus) names only metrics that exist: scraped from a live cloud (createCloud with every part that
 * exports metrics) and a live agent health endpoint, or recorded by the rule file, or Prometheus's own `up`.
 * Metrics of parts not built yet are listed in FUTURE; the test fails when one of them appears (move it out of the
 * list) or when no query uses it any more.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { scrape, startAgentHealth, startMetricsCloud } from '../helpers/live-metrics.ts';
import { exportedNames, metricNames } from '../helpers/promql-metric-names.ts';

const root = join(import.meta.dirname, '..', '..');
/** metrics the rules and dashboard use ahead of the part that will export them */
const FUTURE: Record<string, string> = {};
/** series Prometheus makes itself for every scrape target */
const PROMETHEUS_OWN = new Set(['up']);

interface Panel {
  title: string;
  type: string;
  targets?: Array<{ expr?: string }>;
  panels?: Panel[];
}

function dashboardQueries(): Array<{ where: string; expr: string }> {
  const dir = join(root, 'deploy', 'grafana', 'dashboards');
  const out: Array<{ where: string; expr: string }> = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const dash = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { panels: Panel[] };
    const walk = (ps: Panel[]): void => {
      for (const p of ps) {
        for (const t of p.targets ?? []) if (t.expr) out.push({ where: `${file}: ${p.title}`, expr: t.expr });
        walk(p.panels ?? []);
      }
    };
    walk(dash.panels);
  }
  return out;
}

function ruleExpressions(): { exprs: Array<{ where: string; expr: string }>; recorded: Set<string> } {
  const file = join(root, 'deploy', 'prometheus', 'edgeloop-rules.yml');
  const rules = parse(readFileSync(file, 'utf8')) as {
    groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }>;
  };
  const all = rules.groups.flatMap((g) => g.rules);
  return {
    exprs: all.map((r) => ({ where: `edgeloop-rules.yml: ${r.alert ?? r.record}`, expr: r.expr })),
    recorded: new Set(all.flatMap((r) => (r.record ? [r.record] : []))),
  };
}

describe('dashboard and rules name only exported metrics', () => {
  it('the dashboard has panels with queries, on the provisioned path', () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(20);
    const provider = parse(
      readFileSync(join(root, 'deploy', 'grafana', 'provisioning', 'dashboards', 'edgeloop.yaml'), 'utf8'),
    ) as {
      providers: Array<{ type: string; options: { path: string } }>;
    };
    expect(provider.providers[0]?.type).toBe('file');
    const ds = parse(
      readFileSync(join(root, 'deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yaml'), 'utf8'),
    ) as {
      datasources: Array<{ type: string }>;
    };
    expect(ds.datasources[0]?.type).toBe('prometheus');
  });

  it('every metric in every query is exported by a live cloud or agent', { timeout: 60_000 }, async () => {
    const exported = new Set([
      ...exportedNames(await scrape((await startMetricsCloud()).url)),
      ...exportedNames(await scrape(await startAgentHealth())),
    ]);
    const { exprs, recorded } = ruleExpressions();
    const used = new Map<string, string[]>();
    for (const { where, expr } of [...dashboardQueries(), ...exprs]) {
      for (const name of metricNames(expr)) used.set(name, [...(used.get(name) ?? []), where]);
    }
    const unknown = [...used].filter(
      ([n]) => !exported.has(n) && !recorded.has(n) && !PROMETHEUS_OWN.has(n) && !(n in FUTURE),
    );
    expect(
      unknown.map(([n, w]) => `${n} (in ${w.join('; ')})`),
      'metrics no component exports',
    ).toEqual([]);
    expect(
      Object.keys(FUTURE).filter((n) => exported.has(n)),
      'FUTURE metrics that now exist: take them off the list',
    ).toEqual([]);
    expect(
      Object.keys(FUTURE).filter((n) => !used.has(n)),
      'FUTURE metrics no query uses',
    ).toEqual([]);
    // the check has teeth: a misspelt name is not exported
    expect(exported.has('edgeloop_ingest_readings_total')).toBe(true);
    expect(exported.has('edgeloop_ingest_reading_total')).toBe(false);
    expect(used.size).toBeGreaterThan(30);
  });
});
