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
import { execFileSync } from 'node:child_process';
import { channel } from 'node:diagnostics_channel';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { acquireDataDirLock, type DataDirLock } from '../../lib/data-dir-lock.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { PACKAGE_ROOT, PACKAGE_VERSION } from '../../lib/package-root.ts';
import { describeArtifact, signManifest } from '../../models/manifest/index.ts';
import { checkTestVector, OrtModelRunner } from '../../models/runtime/ort-model-runner.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { parseManifest, type Manifest, type ManifestInput } from '../../protocol/manifest.ts';
import { buildReference } from '../drift/reference.ts';
import { featureNamePart } from '../processor/feature-aggregator.ts';
import type { ModelRegistry } from '../registry/model-registry.ts';
import { DEFAULT_CRITERIA, evaluateChallenger, type Criteria, type Evaluation } from './champion-challenger.ts';
import { RetrainStore, RETRAIN_STEPS, type JobRecord, type RetrainStep, type RetrainTrigger } from './retrain-store.ts';
import { readSegments, writeSegments } from './segment-files.ts';
import { selectTrainingData, type Cohort, type LabelInterval } from './select-data.ts';
import { trainInChild } from './train-process.ts';
import { holdoutCut, segmentsHash, splitSegments } from './training-data.ts';
import { loadTrainingKey } from './training-key.ts';

export const RETRAIN_CHANNELS = { step: channel('edgeloop:retrain:step') };

export interface TrainingParams {
  epochs: number;
  batchSize: number;
  learningRate: number;
  hidden: number[];
  /** rows between training windows */
  stride: number;
  /** at least this many optimizer steps (batches): epochs grow when the training slice is small. Default 0. */
  minSteps?: number | undefined;
  /** the challenger's threshold: this quantile of its training-window scores × margin (default 0.999 × 2, the shipped rule) */
  threshold?: { quantile: number; margin: number; trimMads?: number | undefined } | undefined;
  seed: number;
}

export const DEFAULT_TRAINING: TrainingParams = Object.freeze({
  epochs: 30,
  batchSize: 64,
  learningRate: 3e-3,
  hidden: [32, 8],
  stride: 1,
  seed: 1,
});

export interface RetrainerOptions {
  /** `<dataDir>/retrain`: job store, job files, lock, training key */
  dir: string;
  /** the raw archive (`<dataDir>/archive`) */
  archiveDir: string;
  registry: ModelRegistry;
  /** model name in the registry. Default 'anomaly'. */
  model?: string;
  /** the alias the fleet runs (the champion). Default 'production'. */
  productionAlias?: string;
  /** the alias an accepted challenger gets. Default 'candidate'. */
  candidateAlias?: string;
  /** a scheduled or manual job without a range trains on this much history before now, ms. Default 7 days. */
  lookbackMs?: number;
  /** a drift-triggered job starts this long before the drift event (the onset precedes its detection), ms. Default 1 h. */
  onsetLookbackMs?: number;
  /** share of the selected steps (the last in time) held out for champion/challenger. Default 0.2. */
  holdoutFraction?: number;
  minTrainWindows?: number;
  minHoldoutWindows?: number;
  /** exclusion around an event, ms; default one window at the device's median step */
  guardMs?: number | undefined;
  training?: Partial<TrainingParams>;
  criteria?: Partial<Criteria>;
  /** values kept per feature in the drift reference (it travels in the manifest). Default 500. */
  referenceSample?: number;
  clock?: Clock;
  logger?: Logger;
  /** `retrain.candidate` / `retrain.rejected` after the record step */
  onEvent?: (e: RetrainEvent) => void;
}

export interface RetrainEvent {
  type: 'retrain.candidate' | 'retrain.rejected';
  jobId: number;
  model: string;
  version: string;
  parent: string;
  reason?: string | undefined;
  at: number;
}

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

interface SelectOutput {
  champion: { version: string; sensors: string[]; window: number; smoothing: number };
  version: string;
  from: number;
  to: number;
  cut: number;
  cohort: Cohort | undefined;
  devices: number;
  trainRows: number;
  trainWindows: number;
  trainSegments: number;
  holdoutRows: number;
  holdoutWindows: number;
  events: number;
  excludedSteps: number;
  incompleteSteps: number;
  dataHash: string;
}

function publish(jobId: number, step: RetrainStep, phase: 'begin' | 'end'): void {
  if (RETRAIN_CHANNELS.step.hasSubscribers) RETRAIN_CHANNELS.step.publish({ jobId, step, phase });
}

/** The package version and, in a git checkout, the commit: the code version of the lineage. */
export function codeVersion(): { package: string; git?: string } {
  try {
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: PACKAGE_ROOT, timeout: 2000, stdio: 'pipe' })
      .toString()
      .trim();
    return /^[0-9a-f]{40}$/.test(sha) ? { package: PACKAGE_VERSION, git: sha } : { package: PACKAGE_VERSION };
  } catch {
    return { package: PACKAGE_VERSION };
  }
}

const DAY = 86_400_000;

export class Retrainer {
  readonly #o: Required<Omit<RetrainerOptions, 'guardMs' | 'onEvent' | 'training' | 'criteria'>> & {
    guardMs: number | undefined;
    training: TrainingParams;
    criteria: Criteria;
    onEvent: RetrainerOptions['onEvent'];
  };
  readonly store: RetrainStore;

  /** the registry model this job retrains */
  get model(): string {
    return this.#o.model;
  }
  #busy: Promise<JobRecord> | undefined;
  #closed = false;

  constructor(o: RetrainerOptions) {
    if (!o?.dir || !o.archiveDir || !o.registry)
      throw new EdgeloopError('EL_ERR_RETRAIN_CONFIG', 'Retrainer: options dir, archiveDir and registry are required');
    const frac = o.holdoutFraction ?? 0.2;
    if (!(frac > 0 && frac < 1))
      throw new EdgeloopError('EL_ERR_RETRAIN_CONFIG', `holdoutFraction must be in (0, 1), got ${frac}`);
    this.#o = {
      dir: o.dir,
      archiveDir: o.archiveDir,
      registry: o.registry,
      model: o.model ?? 'anomaly',
      productionAlias: o.productionAlias ?? 'production',
      candidateAlias: o.candidateAlias ?? 'candidate',
      lookbackMs: o.lookbackMs ?? 7 * DAY,
      onsetLookbackMs: o.onsetLookbackMs ?? 3_600_000,
      holdoutFraction: frac,
      minTrainWindows: o.minTrainWindows ?? 200,
      minHoldoutWindows: o.minHoldoutWindows ?? 50,
      guardMs: o.guardMs,
      training: { ...DEFAULT_TRAINING, ...o.training },
      criteria: { ...DEFAULT_CRITERIA, ...o.criteria },
      referenceSample: o.referenceSample ?? 500,
      clock: o.clock ?? systemClock,
      logger: o.logger ?? silentLogger,
      onEvent: o.onEvent,
    };
    this.store = new RetrainStore({ path: join(o.dir, 'retrain.db') });
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
    const sel = done.get('select') as SelectOutput | undefined;
    switch (step) {
      case 'select':
        return { ...(await this.#select(job, dir)) };
      case 'train': {
        // a short history right after a drift makes few batches per epoch: train for at least minSteps batches
        const t = { ...this.#o.training };
        const batches = Math.max(1, Math.ceil(sel!.trainWindows / t.stride / t.batchSize));
        if (t.minSteps) t.epochs = Math.max(t.epochs, Math.ceil(t.minSteps / batches));
        delete t.minSteps;
        const r = await trainInChild(
          {
            segments: join(dir, 'train'),
            outDir: dir,
            name: this.#o.model,
            version: sel!.version,
            createdAt: new Date(this.#o.clock.now()).toISOString(),
            window: sel!.champion.window,
            smoothing: sel!.champion.smoothing,
            ...t,
          },
          {
            onEpoch: (epoch, epochs, loss) => {
              this.store.progress(job.id, { epoch, epochs, loss }, this.#o.clock.now());
              hooks.onEpoch?.(epoch, epochs, loss);
            },
            ...(hooks.signal ? { signal: hooks.signal } : {}),
          },
        );
        return r;
      }
      case 'export': {
        const onnx = readFileSync(join(dir, 'model.onnx'));
        const unsigned = JSON.parse(readFileSync(join(dir, 'manifest.unsigned.json'), 'utf8')) as ManifestInput;
        const m = parseManifest({ ...unsigned, artifact: describeArtifact(onnx) }, 'exported manifest');
        const runner = await OrtModelRunner.create({
          model: onnx,
          inputName: m.inputs.name,
          outputName: m.output.name,
        });
        try {
          const tv = await checkTestVector(runner, m);
          return { bytes: onnx.byteLength, sha256: m.artifact.sha256, testVectorMaxError: tv.maxError };
        } finally {
          await runner.close();
        }
      }
      case 'reference': {
        const { sensors, segments } = readSegments(join(dir, 'train'));
        const columns: Record<string, Float64Array> = {};
        const rows = segments.reduce((a, s) => a + s.rows, 0);
        sensors.forEach((s, j) => {
          const col = new Float64Array(rows);
          let at = 0;
          for (const seg of segments)
            for (let r = 0; r < seg.rows; r++) col[at++] = seg.values[r * sensors.length + j]!;
          // the processor's last-value feature of the sensor: what the drift monitors compare
          columns[`${featureNamePart(s) ?? s}_last`] = col;
        });
        const buf = readFileSync(join(dir, 'training-scores.bin'));
        const scores = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
        const unsigned = JSON.parse(readFileSync(join(dir, 'manifest.unsigned.json'), 'utf8')) as ManifestInput;
        const ref = buildReference(columns, {
          maxSample: this.#o.referenceSample,
          model: { name: this.#o.model, version: sel!.version },
          output: {
            scores,
            anomalyRate: (unsigned.metrics as { trainingFlagRate?: number } | undefined)?.trainingFlagRate ?? 0,
          },
          createdAt: new Date(this.#o.clock.now()).toISOString(),
        });
        atomicWrite(join(dir, 'drift-reference.json'), JSON.stringify(ref));
        return { features: Object.keys(ref.features), scores: scores.length };
      }
      case 'sign': {
        const onnx = readFileSync(join(dir, 'model.onnx'));
        const unsigned = JSON.parse(readFileSync(join(dir, 'manifest.unsigned.json'), 'utf8')) as ManifestInput;
        const driftReference = JSON.parse(readFileSync(join(dir, 'drift-reference.json'), 'utf8')) as unknown;
        const key = loadTrainingKey(this.keyDir);
        if (key.created) this.#o.logger.warn({ keyId: key.keyId, publicKey: key.publicPath }, 'training key created');
        const manifest = signManifest(
          {
            ...unsigned,
            artifact: describeArtifact(onnx),
            training: {
              ...(unsigned.training as Record<string, unknown>),
              parentVersion: sel!.champion.version,
              dataHash: sel!.dataHash,
              data: {
                source: 'raw-archive',
                from: new Date(sel!.from).toISOString(),
                to: new Date(sel!.to).toISOString(),
                holdoutFrom: new Date(sel!.cut).toISOString(),
                cohort: sel!.cohort ?? null,
                devices: sel!.devices,
                rows: sel!.trainRows,
                windows: sel!.trainWindows,
                excludedSteps: sel!.excludedSteps,
                events: sel!.events,
              },
              code: codeVersion(),
              job: job.id,
              trigger: job.trigger,
              driftReference,
            },
          },
          key.privateKey,
        );
        atomicWrite(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
        return { keyId: key.keyId };
      }
      case 'evaluate': {
        const challenger = {
          manifest: parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')), 'challenger'),
          onnx: new Uint8Array(readFileSync(join(dir, 'model.onnx'))),
        };
        const champ = this.#o.registry.get(this.#o.model, sel!.champion.version);
        if (!champ)
          throw new EdgeloopError(
            'EL_ERR_RETRAIN_NO_CHAMPION',
            `champion ${this.#o.model}@${sel!.champion.version} is no longer in the registry`,
          );
        const champion = { manifest: champ.manifest, onnx: await readArtifact(this.#o.registry, champ.sha256) };
        const { segments } = readSegments(join(dir, 'holdout'));
        const ev = await evaluateChallenger(champion, challenger, segments, this.#o.criteria);
        atomicWrite(join(dir, 'evaluation.json'), JSON.stringify(ev, null, 2));
        return summary(ev);
      }
      case 'record':
        return this.#record(job, dir, sel!);
    }
  }

  async #select(job: JobRecord, dir: string): Promise<SelectOutput> {
    const p = job.params as { from: number; to: number; cohort?: Cohort; labels?: LabelInterval[] };
    let champ;
    try {
      champ = this.#o.registry.resolve(this.#o.model, this.#o.productionAlias);
    } catch (cause) {
      throw new EdgeloopError(
        'EL_ERR_RETRAIN_NO_CHAMPION',
        `no ${this.#o.model}@${this.#o.productionAlias} in the registry: push the model the fleet runs and point the alias at it (edgeloop registry)`,
        { cause },
      );
    }
    const m = champ.manifest as Manifest;
    if (m.kind !== 'anomaly' || m.inputs.kind !== 'window')
      throw new EdgeloopError(
        'EL_ERR_RETRAIN_NO_CHAMPION',
        `${m.name}@${m.version} is a ${m.kind} model; retraining trains window anomaly models`,
      );
    const sensors = m.inputs.sensors;
    const window = m.inputs.window.length;
    const sel = await selectTrainingData({
      archiveDir: this.#o.archiveDir,
      sensors,
      from: p.from,
      to: p.to,
      cohort: p.cohort,
      window,
      guardMs: this.#o.guardMs,
      labels: p.labels,
      ...(job.trigger.kind === 'drift' ? { keepEventsOf: { name: m.name, version: m.version } } : {}),
    });
    const cut = holdoutCut(sel.devices, this.#o.holdoutFraction);
    const split = splitSegments(sel.devices, { sensors: sensors.length, window, cut, excluded: sel.excluded });
    const wins = (segs: typeof split.train) => segs.reduce((a, s) => a + s.rows - window + 1, 0);
    const trainWindows = wins(split.train);
    const holdoutWindows = wins(split.holdout);
    if (trainWindows < this.#o.minTrainWindows || holdoutWindows < this.#o.minHoldoutWindows) {
      throw new EdgeloopError(
        'EL_ERR_RETRAIN_NO_DATA',
        `too little data for ${m.name} (window ${window} of [${sensors.join(', ')}]) in ${new Date(p.from).toISOString()} .. ${new Date(p.to).toISOString()}${p.cohort ? ` for ${p.cohort.kind} ${p.cohort.id}` : ''}: ${trainWindows} training windows (need ${this.#o.minTrainWindows}), ${holdoutWindows} hold-out windows (need ${this.#o.minHoldoutWindows}); ${sel.devices.length} devices, ${split.excludedSteps} steps excluded around ${sel.events} events and labels, ${sel.incompleteSteps} incomplete steps`,
      );
    }
    writeSegments(join(dir, 'train'), sensors, split.train);
    writeSegments(join(dir, 'holdout'), sensors, split.holdout);
    const stamp = new Date(this.#o.clock.now())
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
    return {
      champion: { version: m.version, sensors: [...sensors], window, smoothing: m.decision?.smoothing ?? 1 },
      version: `r${stamp}-${job.id}`,
      from: p.from,
      to: p.to,
      cut,
      cohort: p.cohort,
      devices: sel.devices.length,
      trainRows: split.train.reduce((a, s) => a + s.rows, 0),
      trainWindows,
      trainSegments: split.train.length,
      holdoutRows: split.holdout.reduce((a, s) => a + s.rows, 0),
      holdoutWindows,
      events: sel.events,
      excludedSteps: split.excludedSteps,
      incompleteSteps: sel.incompleteSteps,
      dataHash: segmentsHash(split.train, sensors),
    };
  }

  async #record(job: JobRecord, dir: string, sel: SelectOutput): Promise<Record<string, unknown>> {
    const r = this.#o.registry;
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    const ev = JSON.parse(readFileSync(join(dir, 'evaluation.json'), 'utf8')) as Evaluation;
    try {
      // pushing the same version again (a resumed record step) is a no-op
      await r.push({ manifest, artifact: { path: join(dir, 'model.onnx') } });
    } catch (err) {
      const e = err as EdgeloopError;
      if (e.code === 'EL_ERR_REGISTRY_UNTRUSTED')
        throw new EdgeloopError(
          'EL_ERR_REGISTRY_UNTRUSTED',
          `${e.message}; add the training key ${join(this.keyDir, 'training.pub')} to registry.trustedKeys (docs/retrain.md)`,
          { cause: err },
        );
      throw err;
    }
    const status = ev.accepted ? 'candidate' : 'rejected';
    const reason = ev.accepted
      ? `beats ${sel.champion.version}: false alarms ${pct(ev.challenger.falseAlarmRate)} vs ${pct(ev.champion.falseAlarmRate)}, detection ${pct(ev.challenger.detectionRate)} vs ${pct(ev.champion.detectionRate)}`
      : ev.reasons.join('; ');
    const details = { job: job.id, parent: sel.champion.version, ...summary(ev) };
    r.setStatus(this.#o.model, manifest.version, status, reason, details);
    if (ev.accepted) r.setAlias(this.#o.model, this.#o.candidateAlias, manifest.version);
    const result = {
      model: this.#o.model,
      version: manifest.version,
      parent: sel.champion.version,
      status,
      ...summary(ev),
    };
    const now = this.#o.clock.now();
    this.store.finish(job.id, ev.accepted ? 'candidate' : 'rejected', reason, result, now);
    const event: RetrainEvent = {
      type: ev.accepted ? 'retrain.candidate' : 'retrain.rejected',
      jobId: job.id,
      model: this.#o.model,
      version: manifest.version,
      parent: sel.champion.version,
      ...(ev.accepted ? {} : { reason }),
      at: now,
    };
    this.#o.logger.info({ ...event }, ev.accepted ? 'challenger is a candidate' : 'challenger rejected');
    try {
      this.#o.onEvent?.(event);
    } catch (err) {
      this.#o.logger.error({ err }, 'retrain onEvent failed');
    }
    return result;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#busy?.catch(() => {});
    this.store.close();
  }
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)} %`;
}

function summary(ev: Evaluation): Record<string, unknown> {
  return {
    accepted: ev.accepted,
    reasons: ev.reasons,
    windows: ev.windows,
    injected: ev.injected,
    champion: ev.champion,
    challenger: ev.challenger,
  };
}

function atomicWrite(path: string, data: string): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

async function readArtifact(registry: ModelRegistry, sha256: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of registry.store.createReadStream(sha256) as Readable) chunks.push(c as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}
