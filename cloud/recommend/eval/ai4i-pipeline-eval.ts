/**
 * AI4I rows replayed as machine telemetry through the whole cloud path, then recommendations requested over HTTP:
 *
 *   machine ai4i-<UDI> ──MQTT──► embedded broker ──► ingest ──► stream ──► processor ──► feature store
 *                                                                                     └─► GET /v1/recommendations/ai4i-<UDI>
 *
 * Each row becomes one telemetry message of its raw readings (sensor ids = the recommender's raw feature names, so
 * the processor's `<sensor>_last` features feed the model with no mapping). For rows with a failure mode, hit@k
 * says whether an action answering one of the row's true modes is among the top k.
 */
import mqtt from 'mqtt';
import type { Ai4iData } from '../../../models/recommender/ai4i-data.ts';
import { FAILURE_MODES } from '../../../models/recommender/ai4i-data.ts';
import { RAW_FEATURES } from '../../../models/recommender/features.ts';
import type { FeatureStore } from '../../feature-store/feature-store.ts';
import { encodeMessage, type TelemetryMessage } from '../../../protocol/messages.ts';
import { Topics } from '../../../protocol/topics.ts';

export interface Ai4iPipelineOptions {
  data: Ai4iData;
  mqttUrl: string;
  recommendUrl: string;
  featureStore: FeatureStore;
  featureGroup?: string;
  /** MQTT connections open at once while publishing */
  concurrency?: number;
  timeoutMs?: number;
  onProgress?: (phase: string, done: number, total: number) => void;
}

export interface Ai4iPipelineResult {
  rows: number;
  failureRows: number;
  hit1: number;
  hit2: number;
  /** rows answered with an error (missing/stale features) */
  errors: number;
  /** per mode: rows with that mode, and hits at 1 */
  perMode: Record<string, { rows: number; hit1: number }>;
  publishMs: number;
  featuresMs: number;
  recommendMs: number;
}

export async function runAi4iThroughPipeline(o: Ai4iPipelineOptions): Promise<Ai4iPipelineResult> {
  const topics = new Topics();
  const { data } = o;
  const group = o.featureGroup ?? 'device_features';
  const ids = Array.from(data.udi, (u) => `ai4i-${u}`);
  const t0 = Date.now();
  let next = 0;
  let published = 0;
  const worker = async (): Promise<void> => {
    while (next < data.rows) {
      const i = next++;
      const deviceId = ids[i]!;
      const client = await mqtt.connectAsync(o.mqttUrl, { clientId: deviceId, reconnectPeriod: 0, clean: true });
      try {
        const ts = Date.now();
        const msg: TelemetryMessage = {
          v: 1,
          type: 'telemetry',
          deviceId,
          seq: 1,
          sentAt: ts,
          readings: RAW_FEATURES.map((sensor, j) => ({
            seq: 1 + j,
            sensor,
            ts,
            value: data.raw[i * RAW_FEATURES.length + j]!,
          })),
        };
        await client.publishAsync(topics.telemetry(deviceId), encodeMessage(msg), { qos: 1 });
      } finally {
        await client.endAsync();
      }
      o.onProgress?.('publish', ++published, data.rows);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 32, data.rows) }, worker));
  const t1 = Date.now();

  // wait until every machine's features are in the store
  const deadline = Date.now() + (o.timeoutMs ?? 120_000);
  for (;;) {
    const recs = await o.featureStore.batchGet(group, ids);
    const ready = recs.filter(
      (r) => r && RAW_FEATURES.every((f) => typeof r.features[`${f}_last`] === 'number'),
    ).length;
    o.onProgress?.('features', ready, data.rows);
    if (ready === data.rows) break;
    if (Date.now() > deadline) throw new Error(`features of only ${ready}/${data.rows} machines arrived in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const t2 = Date.now();

  let failureRows = 0;
  let hit1 = 0;
  let hit2 = 0;
  let errors = 0;
  const perMode: Record<string, { rows: number; hit1: number }> = Object.fromEntries(
    FAILURE_MODES.map((m) => [m, { rows: 0, hit1: 0 }]),
  );
  for (let i = 0; i < data.rows; i += 200) {
    const batch = ids.slice(i, i + 200);
    const res = await fetch(`${o.recommendUrl}/v1/recommendations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ entityIds: batch, k: 2 }),
    });
    if (!res.ok) throw new Error(`recommend answered ${res.status}: ${await res.text()}`);
    const { results } = (await res.json()) as {
      results: Array<{ actions?: Array<{ modes: string[] }>; error?: unknown }>;
    };
    results.forEach((r, j) => {
      const row = i + j;
      const modes = FAILURE_MODES.filter((_, m) => data.labels[row * FAILURE_MODES.length + m] === 1);
      if (r.error) errors++;
      if (modes.length === 0) return;
      failureRows++;
      const top = r.actions ?? [];
      const hits = (k: number): boolean =>
        top.slice(0, k).some((a) => a.modes.some((m) => (modes as string[]).includes(m)));
      if (hits(1)) hit1++;
      if (hits(2)) hit2++;
      for (const m of modes) {
        perMode[m]!.rows++;
        if (top[0]?.modes.includes(m)) perMode[m]!.hit1++;
      }
    });
    o.onProgress?.('recommend', Math.min(data.rows, i + 200), data.rows);
  }
  return {
    rows: data.rows,
    failureRows,
    hit1: failureRows ? hit1 / failureRows : Number.NaN,
    hit2: failureRows ? hit2 / failureRows : Number.NaN,
    errors,
    perMode,
    publishMs: t1 - t0,
    featuresMs: t2 - t1,
    recommendMs: Date.now() - t2,
  };
}
