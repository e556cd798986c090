/** What `edgeloop up` is started with, and what its parts share. */
import type { Topics } from '../../protocol/topics.ts';

export interface UpOptions {
  devices: number;
  mode: 'agent' | 'light';
  port: number | undefined;
  /** registry and rollout controller ports; undefined = 8081 / 8082, or a free port when taken */
  registryPort?: number | undefined;
  rolloutPort?: number | undefined;
  host: string;
  dataDir: string;
  rate: number;
  faultEverySec: number;
  fleet: boolean;
  seed: number;
  /**
   * drift: a cohort's regime shifts after `shift.onsetSec` and the loop repairs it (docs/keep-models-fresh.md);
   * degradation: every device wears to failure like a C-MAPSS engine, which the maintenance part's RUL model scores
   * (docs/predict-maintenance.md)
   */
  scenario?: 'drift' | 'degradation' | undefined;
  /** the regime shift of the drift scenario (simulator/scenarios/regime-shift.ts); defaults there */
  shift?: import('../../simulator/scenarios/regime-shift.ts').RegimeShiftOptions | undefined;
  /** what happens to a retrained candidate after its shadow stage: auto (default) or wait for `rollout approve` */
  approve?: 'auto' | 'manual' | undefined;
  /** the loop's timings, over the defaults of loopTimings() (tests and benchmarks compress them) */
  loopTimings?: Partial<LoopTimings> | undefined;
  /** where the loop's report goes when the run ends (default <dataDir>/loop-report.json) */
  reportFile?: string | undefined;
}

export interface UpHandle {
  dashboardUrl: string;
  mqttUrl: string;
  /** other HTTP endpoints by name (metrics, recommend, registry) */
  urls: Record<string, string>;
  running: string[];
  missing: Array<{ part: string; reason: string }>;
  /** the closed loop's watch (its timeline and report), when the loop runs */
  loop?: import('./loop-watch.ts').LoopWatch | undefined;
  close(): Promise<void>;
}

export interface Secrets {
  dashboard: string;
  /** the service account of `edgeloop sim --up` */
  sim: string;
  devices: Record<string, string>;
}

/** Shared by every part of `up` (cli/up/parts.ts). */
export interface UpContext {
  readonly o: UpOptions;
  /** one-line notes about parts that could not start */
  readonly warn: (s: string) => void;
  /** parts not running, with the reason (shown on the dashboard and printed) */
  readonly missing: Array<{ part: string; reason: string }>;
  readonly ids: string[];
  readonly secrets: Secrets;
  readonly topics: Topics;
}

export function shortReason(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split('\n')[0]!.slice(0, 160);
}

/** Timings of the closed loop in `up` (cli/up/drift-loop.ts loopTimings() has the defaults). */
export interface LoopTimings {
  /** drift checks, ms */
  driftIntervalMs: number;
  /** bake of each canary stage, ms */
  bakeMs: number;
  /** the shadow stage's bake, ms */
  shadowBakeMs: number;
  /** a drift job with too little data (or a rejected challenger) is tried again this much later, ms */
  retryMs: number;
  /** training epochs of a challenger */
  epochs: number;
}
