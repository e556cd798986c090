/**
 * RetrainService: when the cloud retrains. Every `intervalMs` (daily by default) it runs a scheduled job over the
 * last `lookbackMs`; on a `drift.detected` event of a watched monitor it runs a job for the drifted subject (its
 * cohort, from the drift onset). At most one job runs at a time (the Retrainer's lock, across processes too); a
 * trigger that arrives while a job runs is kept (the latest one) and runs after it. An interrupted job found at
 * start is resumed. Closing kills a training child in progress: the job stays `running` and resumes at the next
 * start.
 */
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { DriftEvent } from '../drift/drift-store.ts';
import type { Retrainer, RunRequest } from './retrainer.ts';
import type { JobRecord } from './retrain-store.ts';
import { RetrainScheduleSchema } from './retrain-options.ts';
import { clockAndLogger, dependency, optionsParser } from '../../lib/options.ts';
import { z } from 'zod';

/** The service's options: the schedule (retrain-options.ts, shared with the config section) and its parts. */
export const RetrainServiceOptionsSchema = RetrainScheduleSchema.extend({
  retrainer: dependency<Retrainer>('a Retrainer'),
  ...clockAndLogger,
});

export type RetrainServiceOptions = z.input<typeof RetrainServiceOptionsSchema>;

export const resolveRetrainServiceOptions = optionsParser(RetrainServiceOptionsSchema, {
  where: 'RetrainService',
  code: 'EL_ERR_RETRAIN_CONFIG',
});

export class RetrainService {
  readonly retrainer: Retrainer;
  readonly #intervalMs: number;
  readonly #monitors: ReadonlySet<string>;
  readonly #subjects: ReadonlySet<string>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #noDataRetryMs: number;
  readonly #noDataRetries: number;
  readonly #retries = new WeakMap<RunRequest, number>();
  readonly #retryTimers = new Set<TimerHandle>();
  #timer: TimerHandle | undefined;
  #current: Promise<void> | undefined;
  #pending: RunRequest | undefined;
  #started = false;
  #closed = false;
  #last: { at: number; outcome: string; id?: number | undefined; error?: string | undefined } | undefined;

  constructor(o: RetrainServiceOptions) {
    const r = resolveRetrainServiceOptions(o);
    this.retrainer = r.retrainer;
    this.#intervalMs = r.intervalMs;
    this.#monitors = new Set(r.driftMonitors);
    this.#subjects = new Set(r.driftSubjects);
    this.#clock = r.clock ?? systemClock;
    this.#log = r.logger ?? silentLogger;
    this.#noDataRetryMs = r.noDataRetryMs;
    this.#noDataRetries = r.noDataRetries;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.retrainer.start();
    if (this.retrainer.store.running()) this.trigger({ trigger: { kind: 'schedule' } });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#intervalMs <= 0) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.trigger({ trigger: { kind: 'schedule', at: this.#clock.now() } });
      this.#schedule();
    }, this.#intervalMs);
    this.#timer.unref?.();
  }

  /** A drift state change (the cloud's event bus): `drift.detected` of a watched monitor starts a job. */
  onDriftEvent(e: DriftEvent): void {
    if (e.type !== 'drift.detected' || !this.#monitors.has(e.monitor) || !this.#subjects.has(e.subject.kind)) return;
    this.trigger({
      trigger: { kind: 'drift', driftEventId: e.id, subject: e.subject, at: e.at },
      cohort: { kind: e.subject.kind, id: e.subject.id },
    });
  }

  /** Run a job now, or after the one running (the latest waiting request wins). */
  trigger(request: RunRequest): void {
    if (this.#closed) return;
    if (this.#current !== undefined) {
      this.#pending = request;
      return;
    }
    this.#current = this.#run(request).finally(() => {
      this.#current = undefined;
      const next = this.#pending;
      this.#pending = undefined;
      if (next && !this.#closed) this.trigger(next);
    });
  }

  async #run(request: RunRequest): Promise<void> {
    try {
      const job: JobRecord = await this.retrainer.run(request, { signal: this.#abort.signal });
      this.#last = { at: this.#clock.now(), outcome: job.outcome ?? job.state, id: job.id };
      // a rejected challenger after a drift: the drift is still there, and more of the new regime may make a better one
      if (job.outcome === 'rejected' && request.trigger.kind === 'drift') this.#retryLater(request);
    } catch (err) {
      if (this.#abort.signal.aborted) return;
      const e = err as { code?: string; message?: string };
      this.#last = { at: this.#clock.now(), outcome: 'failed', error: `${e.message} [${e.code}]` };
      // another process's job holds the lock, or there is too little data yet: not an error of the cloud
      const level = e.code === 'EL_ERR_RETRAIN_LOCKED' || e.code === 'EL_ERR_RETRAIN_NO_DATA' ? 'warn' : 'error';
      this.#log[level]({ err, trigger: request.trigger }, 'retraining job did not finish');
      if (e.code === 'EL_ERR_RETRAIN_NO_DATA' && request.trigger.kind === 'drift') this.#retryLater(request);
    }
  }

  /** The same drift trigger again after `noDataRetryMs` (the data range then ends later), unless a newer one came. */
  #retryLater(request: RunRequest): void {
    const n = (this.#retries.get(request) ?? 0) + 1;
    if (n > this.#noDataRetries || this.#closed) return;
    const again: RunRequest = { ...request };
    this.#retries.set(again, n);
    const t = this.#clock.setTimeout(() => {
      this.#retryTimers.delete(t);
      this.trigger(again);
    }, this.#noDataRetryMs);
    this.#retryTimers.add(t);
    this.#log.info({ attempt: n, inMs: this.#noDataRetryMs, trigger: request.trigger }, 'retraining again later');
  }

  /** Resolves when no job runs or waits (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#current !== undefined) await this.#current;
  }

  health(): { ok: boolean; busy: boolean; last?: RetrainService['last'] } {
    return {
      ok: this.#started && !this.#closed,
      busy: this.#current !== undefined,
      ...(this.#last ? { last: this.#last } : {}),
    };
  }

  get last(): { at: number; outcome: string; id?: number | undefined; error?: string | undefined } | undefined {
    return this.#last;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = undefined;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    for (const t of this.#retryTimers) this.#clock.clearTimeout(t);
    this.#retryTimers.clear();
    this.#abort.abort();
    await this.#current;
    await this.retrainer.close();
  }
}
