/**
 * Segments on disk: `<name>.json` (sensors, and per segment its device, time range and row count) next to
 * `<name>.bin` (every segment's values, float64, row-major, in order). What the select step checkpoints and the
 * training child and the evaluation read.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Segment } from './training-data.ts';

interface SegmentIndex {
  sensors: string[];
  segments: Array<{ deviceId: string; from: number; to: number; rows: number }>;
}

export function writeSegments(path: string, sensors: readonly string[], segments: readonly Segment[]): void {
  const index: SegmentIndex = {
    sensors: [...sensors],
    segments: segments.map((s) => ({ deviceId: s.deviceId, from: s.from, to: s.to, rows: s.rows })),
  };
  const total = segments.reduce((a, s) => a + s.values.length, 0);
  const all = new Float64Array(total);
  let at = 0;
  for (const s of segments) {
    all.set(s.values, at);
    at += s.values.length;
  }
  writeFileSync(`${path}.bin.tmp`, new Uint8Array(all.buffer));
  renameSync(`${path}.bin.tmp`, `${path}.bin`);
  writeFileSync(`${path}.json.tmp`, JSON.stringify(index));
  renameSync(`${path}.json.tmp`, `${path}.json`);
}

export function readSegments(path: string): { sensors: string[]; segments: Segment[] } {
  const index = JSON.parse(readFileSync(`${path}.json`, 'utf8')) as SegmentIndex;
  const buf = readFileSync(`${path}.bin`);
  const all = new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const k = index.sensors.length;
  let at = 0;
  const segments = index.segments.map((s) => {
    const values = all.subarray(at, at + s.rows * k);
    at += s.rows * k;
    return { ...s, values };
  });
  return { sensors: index.sensors, segments };
}
