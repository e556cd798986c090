/**
 * BatchScheduler: runs the daily DAG once a day at a UTC time ("HH:MM"), for the day before (the cloud part
 * `batch`, when `batch.schedule` is set). The timer is on the injected clock and unref'd (the cloud's System keeps
 * the process alive); a run that fails is logged and the next day's run resumes it (DailyDag skips the tasks that
 * succeeded). close() stops the timer and waits for a run in progress.
 */
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { DagRunResult, DailyDag } from './daily-dag.ts';

const DAY = 86_400_000;

/** The first instant after `now` at the UTC time `hhmm`. */
export function nextRunAt(now: number, hhmm: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm);
  if (!m)
    throw new EdgeloopError('EL_ERR_BATCH_INVALID', `batch.schedule ${JSON.stringify(hhmm)} is not a UTC time "HH:MM"`);
  const at = Math.floor(now / DAY) * DAY + (Number(m[1]) * 60 + Number(m[2])) * 60_000;
  return at > now ? at : at + DAY;
}

export class BatchScheduler {
  readonly #dag: DailyDag;
  readonly #schedule: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  #timer: TimerHandle | undefined;
  #run: Promise<DagRunResult | undefined> | undefined;
  #closed = false;
  #last: DagRunResult | undefined;
  #nextAt: number | undefined;

  constructor(o: { dag: DailyDag; schedule: string; clock?: Clock; logger?: Logger }) {
    nextRunAt(0, o.schedule);
    this.#dag = o.dag;
    this.#schedule = o.schedule;
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger;
  }

  start(): void {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'BatchScheduler is closed');
    this.#arm();
  }

  #arm(): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    this.#nextAt = nextRunAt(now, this.#schedule);
    this.#timer = this.#clock.setTimeout(() => this.#fire(), this.#nextAt - now);
    this.#timer.unref?.();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#run = this.#dag
      .run({ trigger: 'schedule' })
      .then((r) => {
        this.#last = r;
        if (r.status === 'failed')
          this.#log.error(
            { runId: r.runId, date: r.date, failed: r.reports.filter((x) => x.status === 'failed').map((x) => x.task) },
            'batch: the daily DAG failed; `edgeloop batch status` shows why, the next run resumes it',
          );
        else this.#log.info({ runId: r.runId, date: r.date }, 'batch: daily DAG done');
        return r;
      })
      .catch((err: unknown) => {
        this.#log.error({ err }, 'batch: the daily DAG could not run');
        return undefined;
      })
      .finally(() => {
        this.#run = undefined;
        this.#arm();
      });
  }

  health(): { ok: boolean; nextRunAt: string | undefined; lastRun: { date: string; status: string } | undefined } {
    return {
      ok: this.#last?.status !== 'failed',
      nextRunAt: this.#nextAt === undefined ? undefined : new Date(this.#nextAt).toISOString(),
      lastRun: this.#last ? { date: this.#last.date, status: this.#last.status } : undefined,
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#run !== undefined) await this.#run;
  }
}
