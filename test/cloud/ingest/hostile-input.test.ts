/**
 * Input a misbehaving or hostile device sends: timestamps far from now, sensor ids that look alike but differ,
 * headers that disagree with their records, and fields the protocol does not define. Each is refused or removed
 * with its reason, and nothing else of the message is lost.
 */
import { describe, expect, it } from 'vitest';
import { Ingest } from '../../../cloud/ingest/ingest.ts';
import { FeatureAggregator } from '../../../cloud/processor/feature-aggregator.ts';
import type { Stream } from '../../../cloud/stream/stream.ts';
import { decodeDeviceMessage, encodeMessage, isValidSensorId, stripUnknownFields } from '../../../protocol/messages.ts';
import { enc, events, readAll, setupIngest, telemetry } from './ingest-helpers.ts';

const T = (d: string): string => `edgeloop/v1/${d}/telemetry`;
const E = (d: string): string => `edgeloop/v1/${d}/events`;
const MIN = 60_000;

describe('ingest: timestamps bounded against arrival', () => {
  it('splits readings stamped in the year 3000 (or 1e300) off to the DLQ as ts-out-of-range; the rest is stored', async () => {
    const { ingest, stream, dlq } = await setupIngest();
    const m = telemetry('d1', 1, 6);
    m.readings[2]!.ts = Date.UTC(3000, 0, 1);
    m.readings[4]!.ts = 1e300;
    expect(await ingest.accept({ topic: T('d1'), payload: enc(m) })).toBe('stored');
    const back = await readAll(stream);
    expect(back.seqs.get('d1')).toEqual([1, 2, 4, 6]);
    expect(back.records[0]!.message.seq).toBe(1);
    const dl = dlq.list({});
    expect(dl).toHaveLength(1);
    expect(dl[0]).toMatchObject({ reason: 'ts-out-of-range', deviceId: 'd1', code: 'EL_ERR_MESSAGE_INVALID' });
    expect(dl[0]!.detail).toMatch(/^readings\[2\]\.ts: 32503680000000 is outside the accepted range/);
    // the dead letter holds exactly the refused readings, as a message of their own
    const refused = JSON.parse(Buffer.from(dl[0]!.payload).toString('utf8'));
    expect(refused.readings.map((r: { seq: number }) => r.seq)).toEqual([3, 5]);
    expect(refused.seq).toBe(3);
    expect(ingest.stats()).toMatchObject({ readings: 4, deadLetters: 1 });
  });

  it('dead-letters a message whose every record is out of range, past or future; in-range edges are kept', async () => {
    const now = Date.now();
    const { ingest, stream, dlq } = await setupIngest({ timeBounds: { maxFutureMs: 5 * MIN, maxPastMs: 60 * MIN } });
    expect(await ingest.accept({ topic: T('a'), payload: enc(telemetry('a', 1, 3, { ts: now + 10 * MIN })) })).toBe(
      'dead-letter',
    );
    expect(await ingest.accept({ topic: T('b'), payload: enc(telemetry('b', 1, 3, { ts: now - 2 * 60 * MIN })) })).toBe(
      'dead-letter',
    );
    expect(await ingest.accept({ topic: T('c'), payload: enc(telemetry('c', 1, 3, { ts: now - 59 * MIN })) })).toBe(
      'stored',
    );
    expect(await ingest.accept({ topic: T('e'), payload: enc(telemetry('e', 1, 1, { ts: now + 4 * MIN })) })).toBe(
      'stored',
    );
    const ev = events('f', 9);
    ev.events[0]!.ts = now + 60 * MIN;
    expect(await ingest.accept({ topic: E('f'), payload: enc(ev) })).toBe('dead-letter');
    const status = { v: 1, type: 'status', deviceId: 'g', seq: 1, ts: now + 60 * MIN, online: true };
    expect(await ingest.accept({ topic: 'edgeloop/v1/g/status', payload: enc(status as never) })).toBe('dead-letter');
    // a status snapshot from long ago is state, not history: the past bound does not apply to it
    const old = { ...status, deviceId: 'h', ts: 1 };
    expect(await ingest.accept({ topic: 'edgeloop/v1/h/status', payload: enc(old as never) })).toBe('stored');
    expect(
      dlq
        .list({})
        .map((d) => `${d.deviceId}:${d.reason}`)
        .sort(),
    ).toEqual(['a:ts-out-of-range', 'b:ts-out-of-range', 'f:ts-out-of-range', 'g:ts-out-of-range']);
    const back = await readAll(stream);
    expect([...back.seqs.keys()].sort()).toEqual(['c', 'e', 'h']);
  });

  it('takes Infinity to turn a bound off and refuses a bad bound naming it', async () => {
    const { ingest, stream } = await setupIngest({ timeBounds: { maxPastMs: Infinity } });
    expect(await ingest.accept({ topic: T('old'), payload: enc(telemetry('old', 1, 2, { ts: 1_000 })) })).toBe(
      'stored',
    );
    expect((await readAll(stream)).seqs.get('old')).toEqual([1, 2]);
    const base = { stream: {} as Stream, dlq: { add: () => 0 }, dedupPath: ':memory:' };
    expect(() => new Ingest({ ...base, timeBounds: { maxFutureMs: -1 } })).toThrow(
      /timeBounds\.maxFutureMs: Invalid input: expected a number >= 0/,
    );
  });
});

describe('ingest: ids, headers and fields', () => {
  it('refuses sensor ids with NUL, a lone surrogate or a bidi override; keeps real-world names', async () => {
    for (const bad of [
      'te\u0000mp',
      'temp\ud800',
      'abc\u202edef',
      'zero\u200bwidth',
      'line\nbreak',
      '',
      'x'.repeat(129),
    ]) {
      expect(isValidSensorId(bad), JSON.stringify(bad)).toBe(false);
    }
    for (const good of [
      'temp',
      'Air temperature [K]',
      'Volume Flow RateRMS',
      'température',
      'rpm/1',
      'x'.repeat(128),
    ]) {
      expect(isValidSensorId(good), good).toBe(true);
    }
    const { ingest, dlq, stream } = await setupIngest();
    const m = telemetry('d', 1, 2);
    m.readings[1]!.sensor = 'temp\u202e';
    expect(await ingest.accept({ topic: T('d'), payload: enc(m) })).toBe('dead-letter');
    expect(dlq.list({})[0]).toMatchObject({ reason: 'malformed' });
    expect(dlq.list({})[0]!.detail).toMatch(/^readings\[1\]\.sensor: expected a sensor id/);
    expect(
      await ingest.accept({ topic: T('d'), payload: enc(telemetry('d', 3, 2, { sensor: 'Air temperature [K]' })) }),
    ).toBe('stored');
    expect((await readAll(stream)).seqs.get('d')).toEqual([3, 4]);
  });

  it('refuses a header seq that is not the smallest record seq', () => {
    const m = telemetry('d', 10, 3);
    expect(() => decodeDeviceMessage(enc({ ...m, seq: 5 }))).toThrow(
      /^seq: expected the smallest readings\[\]\.seq \(10\), got 5/,
    );
    const ev = events('d', 7);
    expect(() => decodeDeviceMessage(enc({ ...ev, seq: 8 }))).toThrow(
      /^seq: expected the smallest events\[\]\.seq \(7\)/,
    );
  });

  it('stores only the fields the protocol defines: 120 KB nested 20,000 deep beside a reading is removed', async () => {
    const { ingest, stream, dlq } = await setupIngest();
    const m = { ...telemetry('d', 1, 3), firmware: 'x'.repeat(80_000) } as Record<string, unknown>;
    (m.readings as Array<Record<string, unknown>>)[1]!.note = { a: 1 };
    // JSON.stringify cannot build 20,000 levels; the text is what a hostile sender writes by hand
    const json = JSON.stringify(m);
    const payload = Buffer.from(`${json.slice(0, -1)},"extra":${'['.repeat(20_000)}1${']'.repeat(20_000)}}`);
    expect(payload.byteLength).toBeGreaterThan(120_000);
    expect(await ingest.accept({ topic: T('d'), payload })).toBe('stored');
    const rec = (await readAll(stream)).records[0]!.message;
    expect(Object.keys(rec).sort()).toEqual(['deviceId', 'readings', 'sentAt', 'seq', 'type', 'v']);
    expect((rec.readings as Array<Record<string, unknown>>).map((r) => Object.keys(r).sort().join(','))).toEqual([
      'sensor,seq,ts,value',
      'sensor,seq,ts,value',
      'sensor,seq,ts,value',
    ]);
    expect(dlq.list({})).toEqual([]);
    expect(ingest.stats()).toMatchObject({ strippedMessages: 1, readings: 3 });
  });

  it('refuses an event or a status nested deeper than the bound, naming it', () => {
    let deep: Record<string, unknown> = { v: 1 };
    for (let i = 0; i < 10; i++) deep = { d: deep };
    const ev = events('d', 1);
    ev.events[0]!.context = deep;
    expect(() => decodeDeviceMessage(enc(ev))).toThrow(/^events\[0\]: expected an event nested at most 6 levels deep/);
    const st = { v: 1, type: 'status', deviceId: 'd', seq: 1, ts: 1, online: true, extra: deep };
    expect(() => decodeDeviceMessage(enc(st as never))).toThrow(
      /^message: expected a status object nested at most 6 levels/,
    );
    // what the agent sends (context of per-sensor maps) passes
    ev.events[0]!.context = { last: { a: 1 }, mean: { a: 1 }, suppressed: 0 };
    expect(() => decodeDeviceMessage(enc(ev))).not.toThrow();
  });

  it('stripUnknownFields leaves a clean message as it is (same encoding)', () => {
    const m = telemetry('d', 1, 3);
    const copy = decodeDeviceMessage(encodeMessage(m));
    expect(stripUnknownFields(copy)).toEqual([]);
    expect(encodeMessage(copy).equals(encodeMessage(m))).toBe(true);
  });
});

describe('feature aggregator: one glitched timestamp does not freeze a device', () => {
  it('ignores a reading stamped after its message was sent (beyond the skew) and keeps closing windows', () => {
    const agg = new FeatureAggregator({ windows: [{ sizeMs: MIN }], allowedLatenessMs: 0 });
    const t0 = 1_800_000_000_000 - (1_800_000_000_000 % MIN);
    const msg = (seq: number, readings: Array<[number, number]>, sentAt: number) => ({
      v: 1 as const,
      type: 'telemetry' as const,
      deviceId: 'd',
      seq,
      sentAt,
      readings: readings.map(([ts, value], i) => ({ seq: seq + i, sensor: 'a', ts, value })),
    });
    agg.ingest(
      msg(
        1,
        [
          [t0 + 1000, 1],
          [t0 + 2000, 2],
        ],
        t0 + 2000,
      ),
      t0 + 2000,
    );
    // one reading of the next batch carries a timestamp in the year 3000
    const r = agg.ingest(
      msg(
        3,
        [
          [t0 + 3000, 3],
          [Date.UTC(3000, 0, 1), 999],
        ],
        t0 + 3000,
      ),
      t0 + 3000,
    );
    expect(r).toMatchObject({ readings: 1, future: 1, late: 0 });
    // later readings are not late, and the first minute closes with exactly its three readings
    const r2 = agg.ingest(msg(5, [[t0 + MIN + 1000, 10]], t0 + MIN + 1000), t0 + MIN + 1000);
    expect(r2).toMatchObject({ readings: 1, late: 0 });
    const f = agg.features('d')!.features;
    expect(f.a_count_1m).toBe(3);
    expect(f.a_mean_1m).toBe(2);
    expect(f.a_last).toBe(10);
    expect(agg.stats().futureReadings).toBe(1);
  });
});
