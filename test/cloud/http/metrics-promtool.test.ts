/**
 * Both Prometheus endpoints pass `promtool check metrics`: the cloud's /metrics (a real createCloud with the
 * embedded broker, ingest, processor, registry, recommend and rollout parts, so every part's metrics are in the
 * body) and the agent's health /metrics (a real HealthServer on port 0).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { HealthServer } from '../../../agent/status/health-server.ts';
import { parseCloudConfig } from '../../../cloud/config.ts';
import { createCloud } from '../../../cloud/create-cloud.ts';
import { promtoolCheckMetrics } from '../../helpers/promtool.ts';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'el-promtool-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

describe('promtool check metrics', () => {
  it("passes on the cloud's /metrics", { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const cloud = createCloud(
      parseCloudConfig({
        dataDir: dir,
        broker: { embedded: { port: 0, allowAnonymous: true } },
        http: { port: 0 },
        registry: { port: 0, requireSignature: false },
        recommend: { port: 0 },
        rollout: { http: { port: 0 }, discoveryMs: 0 },
      }),
    );
    onTestFinished(() => cloud.close());
    await cloud.start();
    const body = await scrape(`${cloud.urls.http}/metrics`);
    // the body carries the process defaults and the parts' own metrics
    expect(body).toMatch(/^# TYPE edgeloop_process_process_cpu_seconds_total counter$/m);
    expect(body).toMatch(/^# TYPE edgeloop_process_nodejs_active_handles gauge$/m);
    expect(body).toMatch(/^# TYPE edgeloop_ingest_\w+ /m);
    expect(body).toMatch(/^# TYPE edgeloop_recommend_\w+ /m);
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
    const health = new HealthServer({
      port: 0,
      snapshot: () => ({
        status: {
          v: 1,
          type: 'status',
          deviceId: 'dev-1',
          seq: 42,
          ts: Date.now(),
          online: true,
          outbox: { depth: 3, bytes: 900, oldestAgeMs: 1500 },
          drops: { telemetry: 1, events: 0 },
          inference: { windows: 10, anomalies: 1, anomalyRate: 0.1, p50Ms: 0.2, p95Ms: 0.5, p99Ms: 0.9 },
        },
        connected: true,
        readingsAccepted: 100,
        readingsRejected: 2,
        readingsRefused: 1,
        outbox: { seqRollbacks: 1, quarantined: 1, diskFreeBytes: 1 << 30, reserve: true },
        messagesPublished: 7,
        publishErrors: 0,
        inferenceErrors: 0,
      }),
    });
    onTestFinished(() => health.close());
    await health.start();
    const body = await scrape(`http://127.0.0.1:${health.port}/metrics`);
    expect(body).toMatch(/^edgeloop_agent_readings_accepted_total 100$/m);
    const r = promtoolCheckMetrics(body);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });
});
