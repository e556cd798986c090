/**
 * The steps of a retraining job (retrainer.ts runs them in order, each once, and checkpoints its output): each
 * reads the files of the steps before it from the job's directory, writes its own there (atomically where a later
 * step reads them), and returns the output its checkpoint keeps.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { PACKAGE_ROOT, PACKAGE_VERSION } from '../../lib/package-root.ts';
import { describeArtifact, signManifest } from '../../models/manifest/index.ts';
import { checkTestVector, OrtModelRunner } from '../../models/runtime/ort-model-runner.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { parseManifest, type Manifest, type ManifestInput } from '../../protocol/manifest.ts';
import { buildReference } from '../drift/reference.ts';
import { featureNamePart } from '../processor/feature-aggregator.ts';
import type { ModelRegistry } from '../registry/model-registry.ts';
import { evaluateChallenger, type Criteria, type Evaluation } from './champion-challenger.ts';
import type { JobRecord, RetrainStore } from './retrain-store.ts';
import { readSegments, writeSegments } from './segment-files.ts';
import { selectTrainingData, type Cohort, type LabelInterval } from './select-data.ts';
import { trainInChild } from './train-process.ts';
import { holdoutCut, segmentsHash, splitSegments } from './training-data.ts';
import { loadTrainingKey } from './training-key.ts';

/** What the steps read: the retrainer's resolved options, its job store, and where its training key is. */
export interface StepContext {
  registry: ModelRegistry;
  /** model name in the registry */
  model: string;
  productionAlias: string;
  candidateAlias: string;
  archiveDir: string;
  guardMs: number | undefined;
  holdoutFraction: number;
  minTrainWindows: number;
  minHoldoutWindows: number;
  training: TrainingParams;
  criteria: Criteria;
  referenceSample: number;
  clock: Clock;
  logger: Logger;
  onEvent: ((e: RetrainEvent) => void) | undefined;
  store: RetrainStore;
  /** where the training key is */
  keyDir: string;
}

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

export interface RetrainEvent {
  type: 'retrain.candidate' | 'retrain.rejected';
  jobId: number;
  model: string;
  version: string;
  parent: string;
  reason?: string | undefined;
  at: number;
}

/** The select step's output: what the later steps read of the champion and the data. */
export interface SelectOutput {
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

/** The champion (the alias the fleet runs) and the training and hold-out data from the raw archive. */
export async function selectStep(ctx: StepContext, job: JobRecord, dir: string): Promise<SelectOutput> {
  const p = job.params as { from: number; to: number; cohort?: Cohort; labels?: LabelInterval[] };
  let champ;
  try {
    champ = ctx.registry.resolve(ctx.model, ctx.productionAlias);
  } catch (cause) {
    throw new EdgeloopError(
      'EL_ERR_RETRAIN_NO_CHAMPION',
      `no ${ctx.model}@${ctx.productionAlias} in the registry: push the model the fleet runs and point the alias at it (edgeloop registry)`,
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
    archiveDir: ctx.archiveDir,
    sensors,
    from: p.from,
    to: p.to,
    cohort: p.cohort,
    window,
    guardMs: ctx.guardMs,
    labels: p.labels,
    ...(job.trigger.kind === 'drift' ? { keepEventsOf: { name: m.name, version: m.version } } : {}),
  });
  const cut = holdoutCut(sel.devices, ctx.holdoutFraction);
  const split = splitSegments(sel.devices, { sensors: sensors.length, window, cut, excluded: sel.excluded });
  const wins = (segs: typeof split.train) => segs.reduce((a, s) => a + s.rows - window + 1, 0);
  const trainWindows = wins(split.train);
  const holdoutWindows = wins(split.holdout);
  if (trainWindows < ctx.minTrainWindows || holdoutWindows < ctx.minHoldoutWindows) {
    throw new EdgeloopError(
      'EL_ERR_RETRAIN_NO_DATA',
      `too little data for ${m.name} (window ${window} of [${sensors.join(', ')}]) in ${new Date(p.from).toISOString()} .. ${new Date(p.to).toISOString()}${p.cohort ? ` for ${p.cohort.kind} ${p.cohort.id}` : ''}: ${trainWindows} training windows (need ${ctx.minTrainWindows}), ${holdoutWindows} hold-out windows (need ${ctx.minHoldoutWindows}); ${sel.devices.length} devices, ${split.excludedSteps} steps excluded around ${sel.events} events and labels, ${sel.incompleteSteps} incomplete steps`,
    );
  }
  writeSegments(join(dir, 'train'), sensors, split.train);
  writeSegments(join(dir, 'holdout'), sensors, split.holdout);
  const stamp = new Date(ctx.clock.now())
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

/** The window autoencoder trained in a child process, with the champion's window shape. */
export async function trainStep(
  ctx: StepContext,
  job: JobRecord,
  dir: string,
  sel: SelectOutput,
  hooks: { onEpoch?: (epoch: number, epochs: number, loss: number) => void; signal?: AbortSignal },
): Promise<Record<string, unknown>> {
  // a short history right after a drift makes few batches per epoch: train for at least minSteps batches
  const t = { ...ctx.training };
  const batches = Math.max(1, Math.ceil(sel.trainWindows / t.stride / t.batchSize));
  if (t.minSteps) t.epochs = Math.max(t.epochs, Math.ceil(t.minSteps / batches));
  delete t.minSteps;
  const r = await trainInChild(
    {
      segments: join(dir, 'train'),
      outDir: dir,
      name: ctx.model,
      version: sel.version,
      createdAt: new Date(ctx.clock.now()).toISOString(),
      window: sel.champion.window,
      smoothing: sel.champion.smoothing,
      ...t,
    },
    {
      onEpoch: (epoch, epochs, loss) => {
        ctx.store.progress(job.id, { epoch, epochs, loss }, ctx.clock.now());
        hooks.onEpoch?.(epoch, epochs, loss);
      },
      ...(hooks.signal ? { signal: hooks.signal } : {}),
    },
  );
  return r;
}

/** The exported ONNX graph opened in ONNX Runtime, its test vectors checked. */
export async function exportStep(dir: string): Promise<Record<string, unknown>> {
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

/** The drift reference set of the training slice: each sensor's last-value feature and the training scores. */
export function referenceStep(ctx: StepContext, dir: string, sel: SelectOutput): Record<string, unknown> {
  const { sensors, segments } = readSegments(join(dir, 'train'));
  const columns: Record<string, Float64Array> = {};
  const rows = segments.reduce((a, s) => a + s.rows, 0);
  sensors.forEach((s, j) => {
    const col = new Float64Array(rows);
    let at = 0;
    for (const seg of segments) for (let r = 0; r < seg.rows; r++) col[at++] = seg.values[r * sensors.length + j]!;
    // the processor's last-value feature of the sensor: what the drift monitors compare
    columns[`${featureNamePart(s) ?? s}_last`] = col;
  });
  const buf = readFileSync(join(dir, 'training-scores.bin'));
  const scores = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const unsigned = JSON.parse(readFileSync(join(dir, 'manifest.unsigned.json'), 'utf8')) as ManifestInput;
  const ref = buildReference(columns, {
    maxSample: ctx.referenceSample,
    model: { name: ctx.model, version: sel.version },
    output: {
      scores,
      anomalyRate: (unsigned.metrics as { trainingFlagRate?: number } | undefined)?.trainingFlagRate ?? 0,
    },
    createdAt: new Date(ctx.clock.now()).toISOString(),
  });
  atomicWrite(join(dir, 'drift-reference.json'), JSON.stringify(ref));
  return { features: Object.keys(ref.features), scores: scores.length };
}

/** Lineage and the drift reference into the manifest, signed with the cloud's training key. */
export function signStep(ctx: StepContext, job: JobRecord, dir: string, sel: SelectOutput): Record<string, unknown> {
  const onnx = readFileSync(join(dir, 'model.onnx'));
  const unsigned = JSON.parse(readFileSync(join(dir, 'manifest.unsigned.json'), 'utf8')) as ManifestInput;
  const driftReference = JSON.parse(readFileSync(join(dir, 'drift-reference.json'), 'utf8')) as unknown;
  const key = loadTrainingKey(ctx.keyDir);
  if (key.created) ctx.logger.warn({ keyId: key.keyId, publicKey: key.publicPath }, 'training key created');
  const manifest = signManifest(
    {
      ...unsigned,
      artifact: describeArtifact(onnx),
      training: {
        ...(unsigned.training as Record<string, unknown>),
        parentVersion: sel.champion.version,
        dataHash: sel.dataHash,
        data: {
          source: 'raw-archive',
          from: new Date(sel.from).toISOString(),
          to: new Date(sel.to).toISOString(),
          holdoutFrom: new Date(sel.cut).toISOString(),
          cohort: sel.cohort ?? null,
          devices: sel.devices,
          rows: sel.trainRows,
          windows: sel.trainWindows,
          excludedSteps: sel.excludedSteps,
          events: sel.events,
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

/** Champion/challenger on the hold-out slice. */
export async function evaluateStep(ctx: StepContext, dir: string, sel: SelectOutput): Promise<Record<string, unknown>> {
  const challenger = {
    manifest: parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')), 'challenger'),
    onnx: new Uint8Array(readFileSync(join(dir, 'model.onnx'))),
  };
  const champ = ctx.registry.get(ctx.model, sel.champion.version);
  if (!champ)
    throw new EdgeloopError(
      'EL_ERR_RETRAIN_NO_CHAMPION',
      `champion ${ctx.model}@${sel.champion.version} is no longer in the registry`,
    );
  const champion = { manifest: champ.manifest, onnx: await readArtifact(ctx.registry, champ.sha256) };
  const { segments } = readSegments(join(dir, 'holdout'));
  const ev = await evaluateChallenger(champion, challenger, segments, ctx.criteria);
  atomicWrite(join(dir, 'evaluation.json'), JSON.stringify(ev, null, 2));
  return summary(ev);
}

/**
 * The challenger pushed to the registry with its status (an accepted one also gets the candidate alias), the job
 * finished, `retrain.candidate` or `retrain.rejected` emitted.
 */
export async function recordStep(
  ctx: StepContext,
  job: JobRecord,
  dir: string,
  sel: SelectOutput,
): Promise<Record<string, unknown>> {
  const r = ctx.registry;
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
        `${e.message}; add the training key ${join(ctx.keyDir, 'training.pub')} to registry.trustedKeys (docs/retrain.md)`,
        { cause: err },
      );
    throw err;
  }
  const status = ev.accepted ? 'candidate' : 'rejected';
  const reason = ev.accepted
    ? `beats ${sel.champion.version}: false alarms ${pct(ev.challenger.falseAlarmRate)} vs ${pct(ev.champion.falseAlarmRate)}, detection ${pct(ev.challenger.detectionRate)} vs ${pct(ev.champion.detectionRate)}`
    : ev.reasons.join('; ');
  const details = { job: job.id, parent: sel.champion.version, ...summary(ev) };
  r.setStatus(ctx.model, manifest.version, status, reason, details);
  if (ev.accepted) r.setAlias(ctx.model, ctx.candidateAlias, manifest.version);
  const result = {
    model: ctx.model,
    version: manifest.version,
    parent: sel.champion.version,
    status,
    ...summary(ev),
  };
  const now = ctx.clock.now();
  ctx.store.finish(job.id, ev.accepted ? 'candidate' : 'rejected', reason, result, now);
  const event: RetrainEvent = {
    type: ev.accepted ? 'retrain.candidate' : 'retrain.rejected',
    jobId: job.id,
    model: ctx.model,
    version: manifest.version,
    parent: sel.champion.version,
    ...(ev.accepted ? {} : { reason }),
    at: now,
  };
  ctx.logger.info({ ...event }, ev.accepted ? 'challenger is a candidate' : 'challenger rejected');
  try {
    ctx.onEvent?.(event);
  } catch (err) {
    ctx.logger.error({ err }, 'retrain onEvent failed');
  }
  return result;
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
