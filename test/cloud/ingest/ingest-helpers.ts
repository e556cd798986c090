/** Builders, an ingest on a real LocalStream + DLQ, and stream read-back shared by the ingest, broker and e2e tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { Ingest, type IngestOptions } from '../../../cloud/ingest/ingest.ts';
import { SqliteDlq } from '../../../cloud/dlq/sqlite-dlq.ts';
import { LocalStream } from '../../../cloud/stream/local-stream.ts';
import { OutageStream } from '../../helpers/outage-stream.ts';
import { encodeMessage, type TelemetryMessage, type EventsMessage } from '../../../protocol/messages.ts';
import type { Stream } from '../../../cloud/stream/stream.ts';

export function telemetry(
  deviceId: string,
  firstSeq: number,
  count: number,
  opts: { ts?: number; sensor?: string } = {},
): TelemetryMessage {
  const ts = opts.ts ?? Date.now() - 60_000;
  return {
    v: 1,
    type: 'telemetry',
    deviceId,
    seq: firstSeq,
    sentAt: ts + count,
    readings: Array.from({ length: count }, (_, i) => ({
      seq: firstSeq + i,
      sensor: opts.sensor ?? 'temp',
      ts: ts + i,
      value: 20 + ((firstSeq + i) % 7),
    })),
  };
}

export function events(deviceId: string, seq: number): EventsMessage {
  const ts = Date.now() - 60_000;
  return {
    v: 1,
    type: 'events',
    deviceId,
    seq,
    sentAt: ts,
    events: [{ seq, ts, kind: 'anomaly', severity: 'warning', score: 0.9, threshold: 0.5 }],
  };
}

export const enc = encodeMessage;

export interface ReadBack {
  records: Array<{ partitionKey: string; shardId: string; message: Record<string, unknown> }>;
  /** every (deviceId, seq) of readings and events, in stream order per shard */
  seqs: Map<string, number[]>;
}

/** Read every record of every shard from the start. */
export async function readAll(stream: Stream, consumer = 'test-reader'): Promise<ReadBack> {
  const out: ReadBack = { records: [], seqs: new Map() };
  for (const shardId of await stream.listShards()) {
    let position: string | undefined;
    for (;;) {
      const b = await stream.read(shardId, { consumer, position, limit: 1000 });
      for (const r of b.records) {
        const message = JSON.parse(Buffer.from(r.data).toString('utf8')) as Record<string, unknown>;
        out.records.push({ partitionKey: r.partitionKey, shardId, message });
        const items = (message.readings ?? message.events ?? []) as Array<{ seq: number }>;
        const list = out.seqs.get(message.deviceId as string) ?? [];
        for (const it of items) list.push(it.seq);
        out.seqs.set(message.deviceId as string, list);
      }
      if (b.records.length === 0 || b.endOfShard) break;
      position = b.position;
    }
  }
  return out;
}

export function sortedUnique(xs: number[]): number[] {
  return [...new Set(xs)].sort((a, b) => a - b);
}

export function range(lo: number, hi: number): number[] {
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

/** An ingest on a LocalStream (2 shards, wrapped to inject outages) and a SQLite DLQ in a temp dir, closed after the test. */
export async function setupIngest(opts: Partial<IngestOptions> = {}, dir?: string) {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'edgeloop-ingest-'));
  if (!dir) onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  const stream = new OutageStream(
    new LocalStream({ path: join(d, 'stream.db'), shardCount: 2, synchronous: 'NORMAL' }),
  );
  await stream.start();
  const dlq = await SqliteDlq.create({ path: join(d, 'dlq.db') });
  const ingest = new Ingest({
    stream,
    dlq,
    dedupPath: join(d, 'dedup.db'),
    putRetry: { minMs: 1, maxMs: 2, maxAttempts: 2 },
    ...opts,
  });
  await ingest.start();
  const close = async (): Promise<void> => {
    await ingest.close();
    await dlq.close();
    await stream.close();
  };
  onTestFinished(close);
  return { dir: d, stream, dlq, ingest, close };
}
