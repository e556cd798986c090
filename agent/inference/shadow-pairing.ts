/**
 * Shadow pairing: how a shadow candidate's decisions are compared with the active model's. Each model's decisions
 * wait in a bounded queue until the other model has decided on the same window (matched by window end time); a
 * paired window counts toward agreement, both score distributions and both anomaly counts, which shadowReport()
 * turns into the status message's ShadowReport. Pure: no I/O, no timers.
 */
import type { ModelRef, ScoreQuantiles, ShadowReport } from '../../protocol/messages.ts';
import { LatencyWindow } from '../../lib/stats.ts';

/**
 * One model's decisions waiting for the other model's on the same window: a fixed ring of typed arrays (no object
 * per window: at 10^5 windows/s those were most of the shadow's heap). Full, the oldest is dropped unpaired.
 */
export class DecisionQueue {
  readonly #cap: number;
  readonly end: Float64Array;
  readonly score: Float64Array;
  readonly anomaly: Uint8Array;
  #head = 0;
  size = 0;

  constructor(cap: number) {
    this.#cap = cap;
    this.end = new Float64Array(cap);
    this.score = new Float64Array(cap);
    this.anomaly = new Uint8Array(cap);
  }
  /** ring index of the i-th oldest entry */
  at(i: number): number {
    return (this.#head + i) % this.#cap;
  }
  push(end: number, score: number, anomaly: boolean): void {
    if (this.size === this.#cap) this.drop(1);
    const k = this.at(this.size);
    this.end[k] = end;
    this.score[k] = score;
    this.anomaly[k] = anomaly ? 1 : 0;
    this.size++;
  }
  drop(n: number): void {
    this.#head = (this.#head + n) % this.#cap;
    this.size -= n;
  }
}

/** A shadow candidate's comparison with the active model, from the windows both scored. */
export interface Pairing {
  activeVersion: string;
  /** decisions waiting for the other model's decision on the same window (bounded, see PAIR_QUEUE_MAX) */
  activeQ: DecisionQueue;
  shadowQ: DecisionQueue;
  windows: number;
  agreements: number;
  anomalies: number;
  activeAnomalies: number;
  activeScores: LatencyWindow;
  shadowScores: LatencyWindow;
}

/**
 * decisions kept waiting for their partner; beyond it the oldest go unpaired (a model far behind the other). The
 * lag is bounded by maxInflightRuns batches of maxBatchWindows (4 x 256 by default), well below it.
 */
const PAIR_QUEUE_MAX = 4096;
const SCORE_QUANTILES = [5, 25, 50, 75, 95, 99];

export function newPairing(activeVersion: string): Pairing {
  return {
    activeVersion,
    activeQ: new DecisionQueue(PAIR_QUEUE_MAX),
    shadowQ: new DecisionQueue(PAIR_QUEUE_MAX),
    windows: 0,
    agreements: 0,
    anomalies: 0,
    activeAnomalies: 0,
    activeScores: new LatencyWindow(1024),
    shadowScores: new LatencyWindow(1024),
  };
}

/**
 * Queue one model's decision and pair what can be paired: both queues are in window order, so a head whose end is
 * older than the other head's has no partner (the candidate started later, or windows differently) and is dropped.
 */
export function pushDecision(p: Pairing, q: DecisionQueue, end: number, score: number, anomaly: boolean): void {
  q.push(end, score, anomaly);
  const a = p.activeQ;
  const b = p.shadowQ;
  let i = 0;
  let j = 0;
  while (i < a.size && j < b.size) {
    const x = a.at(i);
    const y = b.at(j);
    const xe = a.end[x]!;
    const ye = b.end[y]!;
    if (xe < ye) i++;
    else if (ye < xe) j++;
    else {
      const xa = a.anomaly[x]!;
      const ya = b.anomaly[y]!;
      p.windows++;
      if (xa === ya) p.agreements++;
      if (ya) p.anomalies++;
      if (xa) p.activeAnomalies++;
      p.activeScores.record(a.score[x]!);
      p.shadowScores.record(b.score[y]!);
      i++;
      j++;
    }
  }
  if (i) a.drop(i);
  if (j) b.drop(j);
}

function quantiles(w: LatencyWindow): ScoreQuantiles {
  const q = w.snapshot(SCORE_QUANTILES);
  const r = (x: number | undefined): number => (x === undefined || Number.isNaN(x) ? 0 : Number(x.toPrecision(4)));
  return { p05: r(q.p5), p25: r(q.p25), p50: r(q.p50), p75: r(q.p75), p95: r(q.p95), p99: r(q.p99) };
}

/** The candidate's report: its pairing with the active model, and its own latency figures. */
export function shadowReport(
  ref: ModelRef,
  p: Pairing,
  latency: { p50Ms: number; p95Ms: number; p99Ms: number },
): ShadowReport {
  return {
    name: ref.name,
    version: ref.version,
    activeVersion: p.activeVersion,
    windows: p.windows,
    agreements: p.agreements,
    anomalies: p.anomalies,
    activeAnomalies: p.activeAnomalies,
    ...latency,
    scores: { active: quantiles(p.activeScores), shadow: quantiles(p.shadowScores) },
  };
}
