/**
 * The dashboard's drift panel: what the page shows of the drift monitors (cloud/drift/), shaped from a DriftStatus
 * so the page gets one small answer however many devices are monitored. Pure.
 *
 * - a summary (devices monitored, subjects in drift, time of the last check, the family-wise level);
 * - the monitors in drift, cohorts first (site, hardware, model version), then devices, at most `limit`;
 * - the selected subject's input monitor evidence as one histogram per feature: the reference and the recent
 *   sample on common bins (counts turned into shares so the two compare), with the test's statistic, p-value
 *   and whether it fired. The selection is the one asked for, else the first cohort in drift, else the first
 *   model cohort (the whole fleet on one model version), so the panel always has a picture.
 */
import type { MonitorKind, MonitorRecord, Subject, SubjectKind } from '../drift/drift-store.ts';
import type { DriftStatus } from '../drift/drift-service.ts';

export interface DriftSource {
  status(q?: { device?: string; events?: number }): Promise<DriftStatus>;
}

export interface DriftFeatureChart {
  feature: string;
  statistic: string;
  value: number;
  pValue: number;
  /** the statistic's value at which the feature would have fired */
  threshold: number;
  drifted: boolean;
  n: number;
  nRef: number;
  /** inner bin edges; the bins are: below edges[0], one per interval, at or above the last edge (edges + 1 bins) */
  edges: number[];
  /** share of the reference / the recent sample in each bin (edges.length + 1 values) */
  reference: number[];
  recent: number[];
}

export interface DriftPanel {
  checkedAt: number;
  alpha: number;
  devices: number;
  drifting: number;
  /** monitors in drift, cohorts first */
  alarms: Array<{ subject: string; kind: SubjectKind; monitor: MonitorKind; since: number; fired: number }>;
  /** `kind:id` of the subject shown in `charts` (undefined: nothing checked yet) */
  selected: string | undefined;
  /** the selected subject's monitors and their states */
  monitors: Array<{ monitor: MonitorKind; state: string; checkedAt: number }>;
  charts: DriftFeatureChart[];
  events: Array<{ at: number; type: string; subject: string; monitor: MonitorKind }>;
}

// the most specific cohort first: a site or a hardware kind says more than the whole fleet on one model version
const KIND_ORDER: Record<SubjectKind, number> = { site: 0, hardware: 1, model: 2, device: 3 };

export const subjectKey = (s: Subject): string => `${s.kind}:${s.id}`;

export function driftPanel(status: DriftStatus, o: { subject?: string | undefined; limit?: number } = {}): DriftPanel {
  const limit = o.limit ?? 50;
  const records: MonitorRecord[] = status.subjects.flatMap(
    (s) => Object.values(s.monitors).filter(Boolean) as MonitorRecord[],
  );
  const alarms = records
    .filter((r) => r.state === 'drift')
    .sort(
      (a, b) =>
        KIND_ORDER[a.subject.kind] - KIND_ORDER[b.subject.kind] ||
        a.subject.id.localeCompare(b.subject.id, 'en', { numeric: true }) ||
        a.monitor.localeCompare(b.monitor),
    )
    .slice(0, limit)
    .map((r) => ({
      subject: subjectKey(r.subject),
      kind: r.subject.kind,
      monitor: r.monitor,
      since: r.changedAt,
      fired: r.fired,
    }));
  const byKey = new Map(status.subjects.map((s) => [subjectKey(s.subject), s]));
  const withInput = status.subjects.filter((s) => s.monitors.input);
  const pick =
    (o.subject !== undefined && byKey.has(o.subject) ? o.subject : undefined) ??
    alarms.find((a) => a.kind !== 'device' && a.monitor === 'input')?.subject ??
    alarms.find((a) => a.monitor === 'input')?.subject ??
    [...withInput.filter((s) => s.subject.kind === 'model'), ...withInput].map((s) => subjectKey(s.subject))[0];
  const chosen = pick === undefined ? undefined : byKey.get(pick);
  const monitors = chosen
    ? (Object.values(chosen.monitors).filter(Boolean) as MonitorRecord[]).map((r) => ({
        monitor: r.monitor,
        state: r.state,
        checkedAt: r.checkedAt,
      }))
    : [];
  const charts: DriftFeatureChart[] = [];
  for (const t of chosen?.monitors.input?.last.tests ?? []) {
    if (!t.histogram) continue;
    const share = (c: number[]): number[] => {
      const sum = c.reduce((a, b) => a + b, 0);
      return c.map((x) => (sum > 0 ? x / sum : 0));
    };
    charts.push({
      feature: t.feature,
      statistic: t.statistic,
      value: t.value,
      pValue: t.pValue,
      threshold: t.threshold,
      drifted: t.drifted,
      n: t.n,
      nRef: t.nRef,
      edges: t.histogram.edges,
      reference: share(t.histogram.reference),
      recent: share(t.histogram.recent),
    });
  }
  charts.sort((a, b) => Number(b.drifted) - Number(a.drifted) || a.feature.localeCompare(b.feature));
  return {
    checkedAt: status.checkedAt,
    alpha: status.alpha,
    devices: status.devices,
    drifting: status.drifting,
    alarms,
    selected: chosen ? pick : undefined,
    monitors,
    charts,
    events: status.events.slice(0, 20).map((e) => ({
      at: e.at,
      type: e.type,
      subject: subjectKey(e.subject),
      monitor: e.monitor,
    })),
  };
}
