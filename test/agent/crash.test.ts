/**
 * kill -9 of the agent mid-stream, then a restart on the same outbox: every accepted reading arrives (duplicates
 * only with the same (deviceId, seq)), seq keeps increasing across the restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { existsSync, rmSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startTestBroker } from '../helpers/aedes-broker.ts';
import { collect, readingsOf } from './helpers/mqtt-collector.ts';
import { tempDir } from './helpers/temp-dir.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'agent-child.ts');

interface Line {
  started?: boolean;
  lastSeq?: number;
  incidents?: { seqRollbacks: number; quarantined: number };
  lastError?: string;
  ids?: [number, number];
  seqs?: [number, number];
  done?: boolean;
}

function runChild(args: string[]): {
  child: ChildProcess;
  lines: Line[];
  next: (pred: (l: Line) => boolean) => Promise<Line>;
  exited: Promise<number | null>;
} {
  // node itself with the tsx loader (the tsx CLI would fork a child that SIGKILL of the parent does not reach)
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: Line[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(JSON.parse(l) as Line);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const next = (pred: (l: Line) => boolean): Promise<Line> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = lines.find(pred);
        if (hit) return resolve(hit);
        if (child.exitCode !== null || child.signalCode !== null) return reject(new Error('child exited'));
        waiters.push(check);
      };
      child.once('exit', () => waiters.length && check());
      check();
    });
  return { child, lines, next, exited };
}

describe('crash safety (child process, SIGKILL)', () => {
  it.each(['normal', 'full'])(
    'durability=%s: every accepted reading arrives after kill -9 and restart; seq keeps increasing',
    async (durability) => {
      const broker = await startTestBroker();
      onTestFinished(() => broker.close());
      const dir = tempDir();
      const sub = await collect(broker.url, ['edgeloop/v1/crash-dev/telemetry', 'edgeloop/v1/crash-dev/status']);

      // run 1: killed mid-stream
      const T0 = Date.now();
      const mark = (what: string) => process.env.CRASH_DEBUG && console.log(what, Date.now() - T0);
      const a = runChild([broker.url, dir, '0', '100000', durability]);
      await a.next((l) => (l.ids?.[1] ?? 0) >= 1500);
      mark('killing');
      a.child.kill('SIGKILL');
      await a.exited;
      // the broker publishes the agent's last will: retained status online:false
      await sub.waitFor((m) => m.some((x) => x.topic.endsWith('/status') && x.body.online === false));
      const acc1 = a.lines.filter((l) => l.ids);
      expect(a.lines.some((l) => l.done)).toBe(false); // really killed mid-stream
      const lastAccepted1 = acc1.at(-1)!;
      const maxSeq1 = lastAccepted1.seqs![1];

      // run 2: restart on the same outbox, more readings
      const startId = lastAccepted1.ids![1] + 1;
      const b = runChild([broker.url, dir, String(startId), '1000', durability]);
      const started = await b.next((l) => l.started === true);
      expect(started.lastSeq).toBeGreaterThanOrEqual(maxSeq1); // never reused
      mark('run 2 started');
      await b.next((l) => l.done === true);
      mark('run 2 done');
      const acc2 = b.lines.filter((l) => l.ids);
      expect(acc2[0]!.seqs![0]).toBeGreaterThan(maxSeq1);

      const accepted = new Set<number>();
      for (const l of [...acc1, ...acc2]) for (let id = l.ids![0]; id <= l.ids![1]; id++) accepted.add(id);
      await sub.waitFor((m) => {
        const got = new Set(readingsOf(m).map((r) => r.value));
        for (const id of accepted) if (!got.has(id)) return false;
        return true;
      }, 30_000);
      mark('all received');
      // duplicates only with the same (deviceId, seq): one value per seq
      const bySeq = new Map<number, number>();
      for (const r of readingsOf(sub.messages)) {
        const prev = bySeq.get(r.seq);
        if (prev !== undefined) expect(prev).toBe(r.value);
        bySeq.set(r.seq, r.value);
      }
      // run 1's accepted readings kept their seqs (value id → seq as printed)
      for (const l of acc1) expect(bySeq.get(l.seqs![0])).toBe(l.ids![0]);
    },
  );

  it('kill -9, then outbox.db-wal deleted: the restarted agent never reuses a delivered seq, and reports the rollback', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    const sub = await collect(broker.url, ['edgeloop/v1/crash-dev/telemetry']);
    const a = runChild([broker.url, dir, '0', '100000', 'normal']);
    await a.next((l) => (l.ids?.[1] ?? 0) >= 3000);
    // some of run 1 reached the broker before the kill
    await sub.waitFor((m) => readingsOf(m).length >= 1000);
    a.child.kill('SIGKILL');
    await a.exited;
    const maxSeq1 = a.lines.filter((l) => l.seqs).at(-1)!.seqs![1];
    const deliveredBefore = Math.max(...readingsOf(sub.messages).map((r) => r.seq));
    expect(existsSync(join(dir, 'outbox.db-wal'))).toBe(true);
    rmSync(join(dir, 'outbox.db-wal'));
    rmSync(join(dir, 'outbox.db-shm'), { force: true });

    const b = runChild([broker.url, dir, '1000000', '500', 'normal']);
    const started = await b.next((l) => l.started === true);
    expect(started.lastSeq).toBeGreaterThanOrEqual(maxSeq1);
    expect(started.incidents).toEqual({ seqRollbacks: 1, quarantined: 0 });
    expect(started.lastError).toMatch(/EL_ERR_OUTBOX_SEQ_ROLLBACK/);
    await b.next((l) => l.done === true);
    const acc2 = b.lines.filter((l) => l.ids);
    expect(acc2[0]!.seqs![0]).toBeGreaterThan(Math.max(maxSeq1, deliveredBefore));
    // run 2's readings all arrive, none under a seq run 1 had used
    await sub.waitFor((m) => readingsOf(m).filter((r) => r.value >= 1_000_000).length >= 500, 30_000);
    for (const r of readingsOf(sub.messages)) if (r.value >= 1_000_000) expect(r.seq).toBeGreaterThan(maxSeq1);
  });
});
