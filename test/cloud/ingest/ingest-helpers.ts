/** Builders and stream read-back shared by the ingest, broker and e2e tests. */
import { encodeMessage, type TelemetryMessage, type EventsMessage } from '../../../protocol/messages.ts';
import type { Stream } from '../../../cloud/stream/stream.ts';

export function telemetry(deviceId: string, firstSeq: number, count: number, opts: { ts?: number; sensor?: string } = {}): TelemetryMessage {
  const ts = opts.ts ?? 1_700_000_000_000;
  return {
    v: 1,
    type: 'telemetry',
    deviceId,
    seq: firstSeq,
    sentAt: ts + count,
    readings: Array.from({ length: count }, (_, i) => ({ seq: firstSeq + i, sensor: opts.sensor ?? 'temp', ts: ts + i, value: 20 + ((firstSeq + i) % 7) })),
  };
}

export function events(deviceId: string, seq: number): EventsMessage {
  return {
    v: 1,
    type: 'events',
    deviceId,
    seq,
    sentAt: 1_700_000_000_000,
    events: [{ seq, ts: 1_700_000_000_000, kind: 'anomaly', severity: 'warning', score: 0.9, threshold: 0.5 }],
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
