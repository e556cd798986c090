/**
 * DriftStore: where the drift monitors keep their state and the evidence of every state change. The SQLite store
 * (sqlite-drift-store.ts) is the embedded one; any other backend implements this interface.
 *
 * Subjects are what a monitor watches: one device, or a cohort of devices (a site, a hardware kind, a model
 * version). A monitor is one of 'input' (feature distributions), 'output' (anomaly scores and rate) and
 * 'quality' (missing values, stuck sensors, record rate).
 */
import type { FeatureTest } from './input-drift.ts';
import type { MonitorStateName } from './monitor.ts';

export type SubjectKind = 'device' | 'site' | 'hardware' | 'model';
export type MonitorKind = 'input' | 'output' | 'quality';

export interface Subject {
  kind: SubjectKind;
  id: string;
}

/** One test inside a check: a feature's distribution test, or a count test (anomaly rate, missing rate …). */
export type TestEvidence = Omit<FeatureTest, 'statistic'> & {
  statistic: FeatureTest['statistic'] | 'binomial' | 'poisson' | 'stuck';
  /** input tests: counts of the reference and the recent sample on common display bins (dashboard) */
  histogram?: { edges: number[]; reference: number[]; recent: number[] };
};

export interface CheckEvidence {
  /** the family-wise level of the check */
  alpha: number;
  /** values behind the check (the smallest sample among its tests) */
  n: number;
  /** every test of the check; `drifted` marks those that fired */
  tests: TestEvidence[];
  model?: { name: string; version: string } | undefined;
}

export interface DriftEvent {
  id: number;
  type: 'drift.detected' | 'drift.cleared';
  at: number;
  subject: Subject;
  monitor: MonitorKind;
  /** fired checks among the monitor's last `window` checks when the state changed */
  fired: number;
  window: number;
  evidence: CheckEvidence;
}

export interface MonitorRecord {
  subject: Subject;
  monitor: MonitorKind;
  state: MonitorStateName;
  /** time of the last state change (0: never changed) */
  changedAt: number;
  /** time of the last sufficient check */
  checkedAt: number;
  /** fired checks among the remembered ones */
  fired: number;
  /** the evidence of the last sufficient check */
  last: CheckEvidence;
}

export interface DriftEventQuery {
  subject?: Subject;
  /** events at or after this time, ms */
  since?: number;
  /** newest first; default 100 */
  limit?: number;
}

export interface DriftStore {
  start(): Promise<void>;
  close(): Promise<void>;
  /** a state change and the monitor's new record, together (one transaction where the backend allows) */
  recordChange(event: Omit<DriftEvent, 'id'>, record: MonitorRecord): Promise<DriftEvent>;
  /** the monitors' records after a check (no state change) */
  putRecords(records: MonitorRecord[]): Promise<void>;
  records(query?: { subject?: Subject }): Promise<MonitorRecord[]>;
  events(query?: DriftEventQuery): Promise<DriftEvent[]>;
}
