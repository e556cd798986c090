import { describe, expect, it } from 'vitest';
import { exportedNames, metricNames } from './promql-metric-names.ts';

describe('metricNames (PromQL)', () => {
  it('finds the metrics under functions, aggregations and label lists', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, variant) (rate(edgeloop_recommend_inference_seconds_bucket[5m])))',
      ),
    ).toEqual(['edgeloop_recommend_inference_seconds_bucket']);
    expect(
      metricNames('sum(rate(a_total{job="x", le=~"0.5|1"}[5m] offset 1h)) / on (instance) group_left (version) b_info'),
    ).toEqual(['a_total', 'b_info']);
    expect(
      metricNames('sum(x) without (instance) > bool 1e-9 and y unless z or up{job="edgeloop-agent"} == 0'),
    ).toEqual(['x', 'y', 'z', 'up']);
  });

  it('keeps recording-rule names and drops Grafana variables, strings and subqueries', () => {
    expect(metricNames('edgeloop:ingest_readings:rate5m > 0')).toEqual(['edgeloop:ingest_readings:rate5m']);
    expect(
      metricNames('max_over_time(rate(c_total{instance=~"$instance"}[$__rate_interval])[1h:5m]) * ${factor}'),
    ).toEqual(['c_total']);
    expect(metricNames('label_replace(d, "dst", "$1", "src", "(.*)")')).toEqual(['d']);
    expect(metricNames('absent(e) and .5 < f')).toEqual(['e', 'f']);
  });

  it('refuses what it cannot check', () => {
    expect(() => metricNames('sum({__name__=~"edgeloop_.*"})')).toThrow(/__name__/);
    expect(() => metricNames('x{a="1"')).toThrow(/unbalanced/);
    expect(() => metricNames('x # y')).toThrow(/cannot read/);
    expect(() => metricNames('sum by (le x')).toThrow(/unclosed label list after "by"/);
  });
});

describe('exportedNames (text exposition)', () => {
  it('lists samples and the series of histogram families', () => {
    const body = [
      '# HELP h_seconds a histogram',
      '# TYPE h_seconds histogram',
      '# TYPE g gauge',
      'g{a="1"} 3',
      'c_total 4',
      '',
    ].join('\n');
    expect([...exportedNames(body)].sort()).toEqual([
      'c_total',
      'g',
      'h_seconds',
      'h_seconds_bucket',
      'h_seconds_count',
      'h_seconds_sum',
    ]);
  });
});
