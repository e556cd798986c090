/**
 * Both Prometheus endpoints pass `promtool check metrics`: the cloud's /metrics (a real createCloud with the
 * embedded broker, ingest, processor, registry, recommend and rollout parts, so every part's metrics are in the
 * body) and the agent's health /metrics (a real HealthServer on port 0).
 */
import { describe, expect, it } from 'vitest';
import { scrape, startAgentHealth, startMetricsCloud } from '../../helpers/live-metrics.ts';
import { promtoolCheckMetrics } from '../../helpers/promtool.ts';

describe('promtool check metrics', () => {
  it("passes on the cloud's /metrics", { timeout: 60_000 }, async () => {
    const body = await scrape((await startMetricsCloud()).url);
    // the body carries the process defaults and the parts' own metrics
    expect(body).toMatch(/^# TYPE edgeloop_process_process_cpu_seconds_total counter$/m);
    expect(body).toMatch(/^# TYPE edgeloop_process_nodejs_active_handles gauge$/m);
    expect(body).toMatch(/^# TYPE edgeloop_ingest_\w+ /m);
    expect(body).toMatch(/^# TYPE edgeloop_recommend_\w+ /m);
    expect(body).toMatch(/^edgeloop_rollout_rollouts\{status="aborted"\} 0$/m);
    const r = promtoolCheckMetrics(body);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it('fails with the install command when promtool is missing, and flags a bad body', () => {
    expect(() => promtoolCheckMetrics('', '/nonexistent/promtool')).toThrow(/apt-get install -y prometheus/);
    const bad = promtoolCheckMetrics('# HELP x_total a gauge\n# TYPE x_total gauge\nx_total 1\n');
    expect(bad.output).toMatch(/non-counter metrics should not have "_total" suffix/);
  });

  it("passes on the agent's health /metrics", async () => {
    const body = await scrape(await startAgentHealth());
    expect(body).toMatch(/^edgeloop_agent_readings_accepted_total 100$/m);
    expect(body).toMatch(/^edgeloop_agent_inference_p99_seconds 0\.0009$/m);
    const r = promtoolCheckMetrics(body);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });
});
