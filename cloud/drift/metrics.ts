/**
 * Prometheus metrics of the drift monitors, registered on an injected prom-client Registry and read from the
 * service at scrape time (nothing to update on the hot path):
 *
 *   edgeloop_drift_subjects{kind,monitor,state}   subjects per kind (device, site, hardware, model), monitor, state
 *   edgeloop_drift_active{kind,subject,monitor}   1 per subject and monitor in drift (only those: bounded series)
 *   edgeloop_drift_check_duration_seconds         CPU time of the last check
 *   edgeloop_drift_events_total{type,monitor}     drift.detected / drift.cleared events
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DriftEvent } from './drift-store.ts';
import type { DriftService } from './drift-service.ts';

export interface DriftMetrics {
  /** count an event (pass as the service's onEvent, or call from it) */
  onEvent(e: DriftEvent): void;
  /** remove the metrics from the registry */
  unregister(): void;
}

const NAMES = [
  'edgeloop_drift_subjects',
  'edgeloop_drift_active',
  'edgeloop_drift_check_duration_seconds',
  'edgeloop_drift_events_total',
] as const;

export function registerDriftMetrics(registry: Registry, service: () => DriftService | undefined): DriftMetrics {
  new Gauge({
    name: NAMES[0],
    help: 'Drift-monitored subjects by kind, monitor and state.',
    labelNames: ['kind', 'monitor', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of service()?.counts() ?? [])
        this.set({ kind: c.kind, monitor: c.monitor, state: c.state }, c.count);
    },
  });
  new Gauge({
    name: NAMES[1],
    help: 'Subjects whose drift monitor is in drift (1 each).',
    labelNames: ['kind', 'subject', 'monitor'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of service()?.drifting() ?? [])
        this.set({ kind: d.subject.kind, subject: d.subject.id, monitor: d.monitor }, 1);
    },
  });
  new Gauge({
    name: NAMES[2],
    help: 'Duration of the last drift check, seconds.',
    registers: [registry],
    collect() {
      this.set((service()?.lastCheckMs ?? 0) / 1000);
    },
  });
  const events = new Counter({
    name: NAMES[3],
    help: 'Drift state changes.',
    labelNames: ['type', 'monitor'],
    registers: [registry],
  });
  return {
    onEvent: (e) => events.inc({ type: e.type, monitor: e.monitor }),
    unregister: () => {
      for (const n of NAMES) registry.removeSingleMetric(n);
    },
  };
}
