/**
 * Retrainer: the retraining job. One job at a time under a lock that survives a crash, resumable step by step:
 *
 *   select     the champion (the registry alias the fleet runs: its sensors, window, smoothing); the data range,
 *              cohort and exclusions from the raw archive (select-data.ts); the time-based split (training-data.ts)
 *   train      the window autoencoder in a child process (train-child.ts), same window shape as the champion
 *   export     the ONNX graph the child exported, opened in ONNX Runtime and its test vectors checked
 *   reference  the drift reference set (cloud/drift/reference.ts) of the training slice
 *   sign       lineage and the reference into the manifest, signed with the cloud's training key
 *   evaluate   champion/challenger on the hold-out slice (champion-challenger.ts)
 *   record     pushed to the registry with its status (candidate: also the `candidate` alias), the job finished,
 *              `retrain.candidate` (or `retrain.rejected`) emitted
 *
 * Every step writes its files into `<dataDir>/retrain/jobs/<id>/` and then its checkpoint (retrain-store.ts); a
 * job killed in a step starts that step again and skips the finished ones. The lock is `<dataDir>/retrain/lock/`
 * (lib/data-dir-lock.ts: a kernel-held SQLite lock, released when its holder dies in any way, kill -9 included,
 * and a holder file naming its PID), so a second job in another process is refused with EL_ERR_RETRAIN_LOCKED and a
 * dead holder's lock is taken over. diagnostics_channel `edgeloop:retrain:step` publishes `{ jobId, step, phase }`
 * ('begin' / 'end') for crash tests and tracing.
 */
import { channel } from 'node:diagnostics_channel';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { acquireDataDirLock, type DataDirLock } from '../../lib/data-dir-lock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { DEFAULT_CRITERIA, type Criteria } from './champion-challenger.ts';
import {
  evaluateStep,
  exportStep,
  recordStep,
  referenceStep,
  selectStep,
  signStep,
  trainStep,
  type SelectOutput,
  type StepContext,
  type TrainingParams,
} from './retrain-steps.ts';
import { RetrainStore, RETRAIN_STEPS, type JobRecord, type RetrainStep, type RetrainTrigger } from './retrain-store.ts';
import type { Cohort, LabelInterval } from './select-data.ts';
import { resolveRetrainerOptions, type RetrainerOptions, type ResolvedRetrainerOptions } from './retrain-options.ts';

export { codeVersion, type RetrainEvent, type TrainingParams } from './retrain-steps.ts';

export const RETRAIN_CHANNELS = { step: channel('edgeloop:retrain:step') };

export const DEFAULT_TRAINING: TrainingParams = Object.freeze({
  epochs: 30,
  batchSize: 64,
  learningRate: 3e-3,
  hidden: [32, 8],
  stride: 1,
  seed: 1,
});

export type { RetrainerOptions } from './retrain-options.ts';

export interface RunRequest {
  trigger: RetrainTrigger;
  /** data range [from, to), ms; defaults from the trigger */
  from?: number | undefined;
  to?: number | undefined;
  cohort?: Cohort | undefined;
  labels?: LabelInterval[] | undefined;
}

export interface RunHooks {
  /** each step as it begins, and progress inside it (training epochs) */
  onStep?: (job: number, step: RetrainStep, index: number) => void;
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
  signal?: AbortSignal;
}

function publish(jobId: number, step: RetrainStep, phase: 'begin' | 'end'): void {
  if (RETRAIN_CHANNELS.step.hasSubscribers) RETRAIN_CHANNELS.step.publish({ jobId, step, phase });
}

export class Retrainer {
  readonly #o: Omit<ResolvedRetrainerOptions, 'guardMs' | 'onEvent' | 'training' | 'criteria' | 'clock' | 'logger'> & {
    guardMs: number | undefined;
    onEvent: ResolvedRetrainerOptions['onEvent'];
    training: TrainingParams;
    criteria: Criteria;
    clock: Clock;
    logger: Logger;
  };
  readonly store: RetrainStore;
  readonly #steps: StepContext;

  /** the registry model this job retrains */
  get model(): string {
    return this.#o.model;
  }
  #busy: Promise<JobRecord> | undefined;
  #closed = false;

  constructor(o: RetrainerOptions) {
    const r = resolveRetrainerOptions(o);
    this.#o = {
      ...r,
      guardMs: r.guardMs,
      onEvent: r.onEvent,
      training: { ...DEFAULT_TRAINING, ...r.training } as TrainingParams,
      criteria: { ...DEFAULT_CRITERIA, ...r.criteria } as Criteria,
      clock: r.clock ?? systemClock,
      logger: r.logger ?? silentLogger,
    };
    this.store = new RetrainStore({ path: join(o.dir, 'retrain.db') });
    this.#steps = { ...this.#o, store: this.store, keyDir: this.keyDir };
  }

  get keyDir(): string {
    return join(this.#o.dir, 'keys');
  }

  start(): void {
    this.store.start();
  }

  /** true while a job runs in this process */
  get busy(): boolean {
    return this.#busy !== undefined;
  }

  /**
   * Run a job to its end: an interrupted one first (resumed at its step), else a new one for `request`. Refused
   * with EL_ERR_RETRAIN_LOCKED while a job runs here or in another process.
   */
  run(request: RunRequest, hooks: RunHooks = {}): Promise<JobRecord> {
    if (this.#closed) return Promise.reject(new EdgeloopError('EL_ERR_CLOSED', 'Retrainer is closed'));
    if (this.#busy !== undefined) {
      return Promise.reject(
        new EdgeloopError('EL_ERR_RETRAIN_LOCKED', 'a retraining job is already running in this process'),
      );
    }
    let lock: DataDirLock;
    try {
      lock = acquireDataDirLock({
        dir: join(this.#o.dir, 'lock'),
        command: `retrain job (${request.trigger.kind})`,
        onTakeover: (prev) =>
          this.#o.logger.warn({ previousPid: prev.pid, previousCommand: prev.command }, 'retrain lock: taking over'),
      });
    } catch (err) {
      if ((err as EdgeloopError).code === 'EL_ERR_DATA_DIR_LOCKED') {
        return Promise.reject(
          new EdgeloopError(
            'EL_ERR_RETRAIN_LOCKED',
            `a retraining job is already running: ${(err as Error).message.replace(/^data directory \S+ is in use by /, '').replace(/; stop that.*$/, '')}`,
            { cause: err, details: (err as EdgeloopError).details },
          ),
        );
      }
      return Promise.reject(err as Error);
    }
    const p = (async () => {
      try {
        const job = this.store.running() ?? this.#create(request);
        return await this.#runJob(job, hooks);
      } finally {
        lock.release();
      }
    })();
    this.#busy = p;
    void p.then(
      () => (this.#busy = undefined),
      () => (this.#busy = undefined),
    );
    return p;
  }

  #create(r: RunRequest): JobRecord {
    const now = this.#o.clock.now();
    const to = r.to ?? now;
    const from =
      r.from ??
      (r.trigger.kind === 'drift' && r.trigger.at !== undefined
        ? r.trigger.at - this.#o.onsetLookbackMs
        : to - this.#o.lookbackMs);
    if (!(to > from))
      throw new EdgeloopError('EL_ERR_RETRAIN_CONFIG', `the data range is empty: from ${from} is not before to ${to}`);
    return this.store.create(
      r.trigger,
      { model: this.#o.model, from, to, cohort: r.cohort, labels: r.labels ?? [] },
      now,
    );
  }

  async #runJob(job: JobRecord, hooks: RunHooks): Promise<JobRecord> {
    const dir = join(this.#o.dir, 'jobs', String(job.id));
    mkdirSync(dir, { recursive: true });
    const log = this.#o.logger.child({ job: job.id });
    const done = new Map(job.steps.filter((s) => s.state === 'done').map((s) => [s.step, s.output ?? {}]));
    if (done.size > 0) log.info({ step: job.step, done: [...done.keys()] }, 'resuming retraining job');
    try {
      for (const [index, step] of RETRAIN_STEPS.entries()) {
        if (done.has(step)) continue;
        hooks.signal?.throwIfAborted();
        hooks.onStep?.(job.id, step, index);
        this.store.beginStep(job.id, step, this.#o.clock.now());
        publish(job.id, step, 'begin');
        const output = await this.#step(step, job, dir, done, hooks);
        this.store.endStep(job.id, step, output, this.#o.clock.now());
        done.set(step, output);
        publish(job.id, step, 'end');
      }
    } catch (err) {
      if (hooks.signal?.aborted) throw err; // closing: the job stays running and resumes next time
      const e = err as EdgeloopError;
      log.error({ err }, 'retraining job failed');
      this.store.finish(job.id, 'failed', `${e.message}${e.code ? ` [${e.code}]` : ''}`, {}, this.#o.clock.now());
      throw err;
    }
    return this.store.get(job.id)!;
  }

  async #step(
    step: RetrainStep,
    job: JobRecord,
    dir: string,
    done: Map<RetrainStep, Record<string, unknown>>,
    hooks: RunHooks,
  ): Promise<Record<string, unknown>> {
    const c = this.#steps;
    const sel = done.get('select') as SelectOutput | undefined;
    switch (step) {
      case 'select':
        return { ...(await selectStep(c, job, dir)) };
      case 'train':
        return trainStep(c, job, dir, sel!, hooks);
      case 'export':
        return exportStep(dir);
      case 'reference':
        return referenceStep(c, dir, sel!);
      case 'sign':
        return signStep(c, job, dir, sel!);
      case 'evaluate':
        return evaluateStep(c, dir, sel!);
      case 'record':
        return recordStep(c, job, dir, sel!);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#busy?.catch(() => {});
    this.store.close();
  }
}
