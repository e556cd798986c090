/**
 * Live Prometheus endpoints for tests: a real createCloud with every part that exports metrics (embedded broker,
 * ingest, dlq, processor, registry, recommend, maintenance, rollout, drift monitors) and a real agent HealthServer, both on port 0, closed when
 * the test finishes; and a scrape that checks the status and the exposition content type.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, onTestFinished } from 'vitest';
import { HealthServer } from '../../agent/status/health-server.ts';
import { parseCloudConfig } from '../../cloud/config.ts';
import { createCloud, type Cloud } from '../../cloud/create-cloud.ts';
import { buildReference } from '../../cloud/drift/reference.ts';

/** a started cloud and its /metrics URL */
export async function startMetricsCloud(): Promise<{ url: string; cloud: Cloud }> {
  const dir = mkdtempSync(join(tmpdir(), 'el-metrics-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  // the drift monitors need a reference distribution of one feature
  writeFileSync(
    join(dir, 'reference.json'),
    JSON.stringify(buildReference({ temp_last: Array.from({ length: 200 }, (_, i) => 20 + (i % 10) / 10) })),
  );
  const cloud = createCloud(
    parseCloudConfig({
      dataDir: dir,
      broker: { embedded: { port: 0, allowAnonymous: true } },
      http: { port: 0 },
      registry: { port: 0, requireSignature: false },
      recommend: { port: 0 },
      maintenance: { port: 0 },
      rollout: { http: { port: 0 }, discoveryMs: 0 },
      drift: { references: [join(dir, 'reference.json')], intervalMs: 60_000 },
    }),
  );
  onTestFinished(() => cloud.close());
  await cloud.start();
  return { url: `${cloud.urls.http}/metrics`, cloud };
}

/** an agent health endpoint serving a fixed snapshot; its /metrics URL */
export async function startAgentHealth(): Promise<string> {
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
  return `http://127.0.0.1:${health.port}/metrics`;
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}
