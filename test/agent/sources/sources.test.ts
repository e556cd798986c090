import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../../lib/clock.ts';
import { parseBody, parseLine } from '../../../agent/sources/reading-parser.ts';
import { HttpSource } from '../../../agent/sources/http-source.ts';
import { SocketSource } from '../../../agent/sources/socket-source.ts';
import { StdinSource } from '../../../agent/sources/stdin-source.ts';
import { CsvReplaySource } from '../../../agent/sources/csv-replay-source.ts';
import { SimulatedSource } from '../../../agent/sources/simulated-source.ts';
import type { ReadingSink } from '../../../agent/sources/source.ts';
import type { OutboxReading } from '../../../agent/outbox/sqlite-outbox.ts';
import { SqliteOutbox } from '../../../agent/outbox/sqlite-outbox.ts';
import type { RejectedLine } from '../../../agent/sources/reading-parser.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { EdgeloopError } from '../../../protocol/errors.ts';

/** A sink on a real outbox: accepted = committed. */
function outboxSink(maxBytes?: number) {
  const outbox = SqliteOutbox.open({
    path: join(tempDir(), 'o.db'),
    intakeLingerMs: 1,
    ...(maxBytes ? { maxBytes } : {}),
  });
  onTestFinished(() => outbox.close());
  const accepted: OutboxReading[] = [];
  const rejected: RejectedLine[] = [];
  const sink: ReadingSink = {
    ingest: async (rs) => {
      const r = await outbox.append(rs);
      accepted.push(...rs);
      return r;
    },
    rejected: (_s, lines) => rejected.push(...lines),
  };
  return { outbox, sink, accepted, rejected };
}

describe('reading parser', () => {
  it('accepts readings and names the bad field', () => {
    expect(parseLine('{"sensor":"t","value":1.5,"ts":5}', 0)).toEqual({ sensor: 't', value: 1.5, ts: 5 });
    expect(parseLine('{"id":"t","value":1,"ts":"2026-01-01T00:00:00Z"}', 0)).toEqual({
      sensor: 't',
      value: 1,
      ts: Date.parse('2026-01-01T00:00:00Z'),
    });
    expect(parseLine('{"sensor":"t","value":2}', 77)).toEqual({ sensor: 't', value: 2, ts: 77 });
    expect(parseLine('   ', 0)).toBeUndefined();
    expect(parseLine('{"sensor":"t","value":"hot"}', 0)).toMatch(/^value: expected a finite number, got "hot"/);
    expect(parseLine('{"value":1}', 0)).toMatch(/^sensor:/);
    expect(parseLine('{"sensor":"t","value":1,"ts":"yesterday"}', 0)).toMatch(/^ts:/);
    expect(parseLine('{oops', 0)).toMatch(/^not JSON/);
    expect(parseLine('[1,2]', 0)).toMatch(/JSON object/);
  });
  it('reads JSON documents, arrays, {readings} and NDJSON', () => {
    expect(parseBody('{"readings":[{"sensor":"a","value":1,"ts":1},{"sensor":"a"}]}', 0, false)).toMatchObject({
      readings: [{ sensor: 'a' }],
      rejected: [{ line: 2 }],
    });
    expect(
      parseBody('{"sensor":"a","value":1,"ts":1}\n{"sensor":"b","value":2,"ts":2}\n', 0, false).readings,
    ).toHaveLength(2);
  });
});

describe('HTTP source', () => {
  it('answers 202 after commit, 400 with reasons for bad lines while keeping the good ones, 413, 415, 507 when full', async () => {
    const { sink, outbox, accepted, rejected } = outboxSink(49 * 3);
    const src = new HttpSource({ sink, port: 0, maxBodyBytes: 2000 });
    onTestFinished(() => src.close());
    await src.start();
    const post = (body: string, type = 'application/x-ndjson') =>
      fetch(`${src.url}/v1/readings`, { method: 'POST', body, headers: { 'content-type': type } });
    let res = await post('{"sensor":"t","value":1,"ts":1}\n{"sensor":"t","value":2,"ts":2}\n');
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 2, firstSeq: 1, lastSeq: 2 });
    expect(outbox.telemetryCount).toBe(2); // committed before the answer
    res = await post('{"sensor":"t","value":3,"ts":3}\nnot json\n{"sensor":"t","value":null}\n');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { accepted: number; rejected: RejectedLine[] };
    expect(body.accepted).toBe(1);
    expect(body.rejected.map((r) => r.line)).toEqual([2, 3]);
    expect(body.rejected[1]!.reason).toMatch(/^value/);
    expect(accepted.map((r) => r.value)).toEqual([1, 2, 3]);
    expect(rejected).toHaveLength(2);
    res = await post(JSON.stringify([{ sensor: 't', value: 4, ts: 4 }]), 'application/json');
    expect(res.status).toBe(202); // 4th reading: over the 3-reading bound, the oldest telemetry is dropped
    expect(outbox.stats().drops.bytes).toBe(1);
    res = await post('x'.repeat(3000));
    expect(res.status).toBe(413);
    res = await post('a,b', 'text/csv');
    expect(res.status).toBe(415);
    outbox.appendEvents([{ ts: 1, kind: 'alert', severity: 'info', context: { pad: 'p'.repeat(60) } }]);
    res = await post(
      '{"sensor":"t","value":5,"ts":5}\n{"sensor":"t","value":5,"ts":5}\n{"sensor":"t","value":5,"ts":5}',
    );
    expect(res.status).toBe(507);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toMatchObject({ code: 'EL_ERR_OUTBOX_FULL', accepted: 0 });
  });
});

describe('HTTP source: status per intake error', () => {
  it('507 + Retry-After for EL_ERR_OUTBOX_FULL, 503 for EL_ERR_AGENT_STOPPING, 500 with the code for anything else', async () => {
    let next: Error = new Error('x');
    const sink: ReadingSink = { ingest: () => Promise.reject(next), rejected: () => undefined };
    const src = new HttpSource({ sink, port: 0 });
    onTestFinished(() => src.close());
    await src.start();
    const post = () =>
      fetch(`${src.url}/v1/readings`, {
        method: 'POST',
        body: '{"sensor":"t","value":1,"ts":1}',
        headers: { 'content-type': 'application/json' },
      });
    const cases: Array<[Error, number, string, string | null]> = [
      [new EdgeloopError('EL_ERR_OUTBOX_FULL', 'full'), 507, 'EL_ERR_OUTBOX_FULL', '5'],
      [new EdgeloopError('EL_ERR_AGENT_STOPPING', 'stopping'), 503, 'EL_ERR_AGENT_STOPPING', null],
      [new EdgeloopError('EL_ERR_CLOSED', 'closed'), 500, 'EL_ERR_CLOSED', null],
      [new Error('boom'), 500, 'EL_ERR_INTERNAL', null],
    ];
    for (const [err, status, code, retryAfter] of cases) {
      next = err;
      const res = await post();
      expect([res.status, res.headers.get('retry-after')]).toEqual([status, retryAfter]);
      expect(await res.json()).toMatchObject({ code, accepted: 0, error: err.message });
    }
  });
});

describe('UNIX socket source', () => {
  it('acknowledges committed readings and reports bad lines by number', async () => {
    const { sink, accepted, rejected } = outboxSink();
    const path = join(tempDir(), 'in.sock');
    const src = new SocketSource({ sink, path });
    onTestFinished(() => src.close());
    await src.start();
    const sock = connect(path);
    onTestFinished(() => void sock.destroy());
    const replies = createInterface({ input: sock })[Symbol.asyncIterator]();
    sock.write('{"sensor":"a","value":1,"ts":1}\n{"sensor":"a","value":"x"}\n{"sensor":"a","value":2,"ts":2}\n');
    const got: unknown[] = [];
    while (got.length < 2) got.push(JSON.parse((await replies.next()).value as string));
    expect(got).toEqual([
      { line: 2, error: 'value: expected a finite number, got "x"' },
      { accepted: 2, lastSeq: 2 },
    ]);
    expect(accepted.map((r) => r.value)).toEqual([1, 2]);
    expect(rejected).toEqual([{ line: 2, reason: 'value: expected a finite number, got "x"' }]);
    // a second source on the same live path is refused
    await expect(new SocketSource({ sink, path }).start()).rejects.toMatchObject({ code: 'EL_ERR_AGENT_SOURCE' });
  });
});

describe('stdin source', () => {
  it('reads JSON lines with backpressure, split across chunks; rejects and counts malformed lines', async () => {
    const { sink, accepted, rejected } = outboxSink();
    const stream = new PassThrough();
    let ended = false;
    const src = new StdinSource({ sink, stream, onEnd: () => (ended = true) });
    onTestFinished(() => src.close());
    await src.start();
    stream.write('{"sensor":"a","val');
    stream.write('ue":1,"ts":1}\n{bad}\n');
    stream.end('{"sensor":"a","value":2,"ts":2}');
    await src.ended;
    expect(ended).toBe(true);
    expect(accepted.map((r) => r.value)).toEqual([1, 2]);
    expect(rejected).toMatchObject([{ line: 2, reason: expect.stringMatching(/^not JSON/) }]);
  });
});

describe('CSV replay', () => {
  it('replays wide and long files, paced by the speed factor, rejecting bad cells', async () => {
    const dir = tempDir();
    const wide = join(dir, 'wide.csv');
    // times in seconds since the epoch (values below 1e11 are read as seconds)
    writeFileSync(
      wide,
      'timestamp,temperature,vibration\n1700000001,20.5,0.1\n1700000002,21,oops\nnot-a-time,1,1\n1700000003,22,0.3\n',
    );
    const clock = new ManualClock(50_000);
    const { sink, accepted, rejected } = outboxSink();
    const src = new CsvReplaySource({ sink, file: wide, speed: 2, clock });
    onTestFinished(() => src.close());
    await src.start();
    // wait for the first row to be committed, then advance the file's time / speed
    const until = async (n: number) => {
      for (let i = 0; i < 200 && accepted.length < n; i++) await new Promise((r) => setTimeout(r, 5));
    };
    await until(2);
    expect(accepted).toEqual([
      { sensor: 'temperature', ts: 50_000, value: 20.5 },
      { sensor: 'vibration', ts: 50_000, value: 0.1 },
    ]);
    clock.advance(500); // 1 s of file time at speed 2
    await until(3);
    clock.advance(500);
    await src.done;
    expect(accepted.slice(2)).toEqual([
      { sensor: 'temperature', ts: 50_500, value: 21 },
      { sensor: 'temperature', ts: 51_000, value: 22 },
      { sensor: 'vibration', ts: 51_000, value: 0.3 },
    ]);
    expect(rejected.map((r) => r.line)).toEqual([3, 4]);

    const long = join(dir, 'long.csv');
    writeFileSync(long, 'ts,sensor,value\n2026-01-01T00:00:00Z,p,1\n2026-01-01T00:00:01Z,p,2\n');
    const b = outboxSink();
    const src2 = new CsvReplaySource({ sink: b.sink, file: long, speed: 0, retime: false });
    onTestFinished(() => src2.close());
    await src2.start();
    await src2.done;
    expect(b.accepted).toEqual([
      { sensor: 'p', ts: Date.parse('2026-01-01T00:00:00Z'), value: 1 },
      { sensor: 'p', ts: Date.parse('2026-01-01T00:00:01Z'), value: 2 },
    ]);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'a,b\n1,2\n');
    await expect(new CsvReplaySource({ sink: b.sink, file: bad }).start()).rejects.toMatchObject({
      code: 'EL_ERR_AGENT_SOURCE',
    });
  });

  it('replays once when start() is called again before the first start() resolved', async () => {
    const file = join(tempDir(), 'once.csv');
    writeFileSync(file, 'ts,sensor,value\n2026-01-01T00:00:00Z,p,1\n2026-01-01T00:00:01Z,p,2\n');
    const { sink, accepted } = outboxSink();
    const src = new CsvReplaySource({ sink, file, speed: 0, retime: false });
    onTestFinished(() => src.close());
    await Promise.all([src.start(), src.start()]);
    await src.done;
    expect(accepted.map((r) => r.value)).toEqual([1, 2]);
    expect(src.rows).toBe(2);
  });

  it('start() after a failed start() checks the file again', async () => {
    const file = join(tempDir(), 'later.csv');
    const { sink, accepted } = outboxSink();
    const src = new CsvReplaySource({ sink, file, speed: 0, retime: false });
    onTestFinished(() => src.close());
    await expect(src.start()).rejects.toMatchObject({ code: 'EL_ERR_AGENT_SOURCE' });
    writeFileSync(file, 'ts,sensor,value\n2026-01-01T00:00:00Z,p,1\n');
    await src.start();
    await src.done;
    expect(accepted.map((r) => r.value)).toEqual([1]);
  });
});

describe('simulated source', () => {
  it('emits every due tick for every sensor, deterministic for a seed, and stops after `ticks`', async () => {
    const run = async () => {
      const clock = new ManualClock(0);
      const { sink, accepted } = outboxSink();
      let ended = false;
      const src = new SimulatedSource({
        sink,
        clock,
        rateHz: 100,
        ticks: 25,
        seed: 7,
        sensors: [
          { name: 'a', base: 10, amplitude: 0, periodS: 1, noise: 0 },
          { name: 'b', base: 0, amplitude: 1, periodS: 1, noise: 0.1 },
        ],
        onEnd: () => (ended = true),
      });
      onTestFinished(() => src.close());
      await src.start();
      const sizes: number[] = [];
      for (let i = 0; i < 50 && !ended; i++) {
        const before = accepted.length;
        clock.advance(40); // 4 ticks due per timer fire
        for (let k = 0; k < 100 && accepted.length === before && !ended; k++)
          await new Promise((r) => setTimeout(r, 2));
        sizes.push(accepted.length - before);
      }
      return { accepted, ended, sizes, ticks: src.ticks };
    };
    const a = await run();
    expect(a.ended).toBe(true);
    expect(a.ticks).toBe(25);
    expect(a.accepted.length).toBe(50);
    expect(a.accepted[0]).toEqual({ sensor: 'a', ts: 10, value: 10 });
    expect(Math.max(...a.sizes)).toBeGreaterThan(2); // several ticks in one ingest call
    const b = await run();
    expect(b.accepted).toEqual(a.accepted);
  });
});
