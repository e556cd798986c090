/**
 * Watching the closed loop in `edgeloop up`: every milestone (drift detected or cleared on a cohort, a retraining job's
 * candidate or rejection, each rollout stage, the rollout's end, the whole fleet on the new model) is printed as one
 * line as it happens, and kept in a LoopTimeline (simulator/report/loop-timeline.ts) fed with the agents' status
 * messages and anomaly events (a privileged MQTT subscription, as the dashboard's). With the drift scenario, the
 * timeline's report — milestones, and per phase the flag rate, precision/recall and false alarms per device-hour —
 * is written to `<dataDir>/loop-report.json` (and its text printed) when `up` stops, and on `report()`.
 */
import { writeFileSync } from 'node:fs';
import type { Cloud } from '../../cloud/create-cloud.ts';
import type { DriftEvent } from '../../cloud/drift/drift-store.ts';
import type { RetrainEvent } from '../../cloud/retrain/retrainer.ts';
import type { RolloutController } from '../../cloud/rollout/rollout-controller.ts';
import type { RolloutOutcome } from '../../cloud/rollout/rollout-view.ts';
import type { InjectedFault } from '../../simulator/faults/data-faults.ts';
import { FleetObserver } from '../../simulator/fleet-observer.ts';
import {
  formatLoopReport,
  type LoopReport,
  LoopTimeline,
  type MilestoneKind,
} from '../../simulator/report/loop-timeline.ts';
import type { Topics } from '../../protocol/topics.ts';

const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LoopWatchOptions {
  cloud: Cloud;
  mqttUrl: string;
  credentials: { username: string; password: string } | undefined;
  topics: Topics;
  devices: readonly string[];
  model: string;
  faults: readonly InjectedFault[];
  shift: { devices: string[]; onsetMs: number } | undefined;
  reportFile: string | undefined;
  print: (line: string) => void;
  now?: () => number;
}

export class LoopWatch {
  readonly timeline: LoopTimeline;
  readonly #o: LoopWatchOptions;
  readonly #now: () => number;
  readonly #observer: FleetObserver;
  readonly #off: Array<() => void> = [];
  readonly #stages = new Map<string, string>();
  #promoted: string | undefined;
  #onsetTimer: NodeJS.Timeout | undefined;
  readonly startedAt: number;

  constructor(o: LoopWatchOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.startedAt = this.#now();
    this.timeline = new LoopTimeline({ startedAt: this.startedAt, devices: o.devices, model: o.model });
    const watched = new Set(o.devices);
    this.#observer = new FleetObserver({
      url: o.mqttUrl,
      ...(o.credentials ?? {}),
      topics: o.topics,
      devices: watched,
      clientId: `edgeloop-up-loop-${process.pid}`,
      onStatus: (s) => {
        this.timeline.status(s, this.#now());
        this.#checkFleet();
      },
      onEvent: (e) => this.timeline.event(e),
    });
  }

  #mark(kind: MilestoneKind, detail?: string, at = this.#now()): void {
    this.timeline.milestone(kind, at, detail);
    const s = Math.round((at - this.startedAt) / 1000);
    const clock = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
    this.#o.print(`edgeloop up: loop ${clock} ${kind}${detail ? ` ${detail}` : ''}`);
  }

  async start(): Promise<void> {
    const ev = this.#o.cloud.events;
    const on = <
      K extends 'drift.detected' | 'drift.cleared' | 'retrain.candidate' | 'retrain.rejected' | 'rollout.ended',
    >(
      name: K,
      fn: (...args: never[]) => void,
    ): void => {
      ev.on(name, fn as never);
      this.#off.push(() => ev.off(name, fn as never));
    };
    on('drift.detected', (e: DriftEvent) => {
      if (e.subject.kind === 'device') return; // cohorts only: a line per device would drown the rest
      this.#mark('drift.detected', `${e.subject.kind}:${e.subject.id} ${e.monitor}`, e.at);
    });
    on('retrain.candidate', (e: RetrainEvent) => this.#mark('retrain.candidate', `${e.version} (from ${e.parent})`));
    on('retrain.rejected', (e: RetrainEvent) => this.#mark('retrain.rejected', `${e.version}: ${e.reason ?? ''}`));
    on('rollout.ended', (o: RolloutOutcome) => {
      const kind = o.status === 'completed' ? 'rollout.completed' : 'rollout.aborted';
      this.#mark(kind, `${o.model}@${o.version} ${o.status}${o.reason ? `: ${o.reason}` : ''}`);
      if (o.status === 'completed') this.#promoted = o.version;
      this.#checkFleet();
    });
    const controller = (this.#o.cloud.parts.get('rollout')?.instance as { controller?: RolloutController } | undefined)
      ?.controller;
    if (controller) {
      const off = controller.onChange((id: string) => {
        let v: ReturnType<RolloutController['view']>;
        try {
          v = controller.view(id);
        } catch {
          return;
        }
        const stage = `${v.status}:${v.stage}`;
        if (this.#stages.get(id) === stage) return;
        if (!this.#stages.has(id)) this.#mark('rollout.started', `${v.model}@${v.version}`);
        this.#stages.set(id, stage);
        if (v.status === 'shadowing' || v.status === 'rolling' || v.status === 'awaiting-approval')
          this.#mark(
            'rollout.stage',
            `${v.model}@${v.version} ${v.status}${v.status === 'rolling' ? ` stage ${v.stage} (${v.stages[v.stage - 1]?.percent ?? '?'} %)` : ''}`,
          );
      });
      this.#off.push(() => void off());
    }
    const shift = this.#o.shift;
    const wait = shift ? Math.max(0, shift.onsetMs - this.#now()) : 0;
    // a timer longer than 2^31 - 1 ms fires at once (Node clamps it to 1 ms): an onset that far out is never reached
    if (shift && wait <= MAX_TIMER_MS) {
      this.#onsetTimer = setTimeout(
        () =>
          this.#mark(
            'onset',
            `regime shift on ${shift.devices.length} of ${this.#o.devices.length} devices`,
            shift.onsetMs,
          ),
        wait,
      );
      this.#onsetTimer.unref();
    }
    await this.#observer.start();
  }

  #checkFleet(): void {
    const v = this.#promoted;
    if (!v || this.timeline.has('fleet.on-new-model') || !this.timeline.allOn(v)) return;
    this.#mark('fleet.on-new-model', v);
  }

  report(): LoopReport {
    return this.timeline.report(this.#o.faults, this.#now());
  }

  async close(): Promise<void> {
    if (this.#onsetTimer) clearTimeout(this.#onsetTimer);
    for (const off of this.#off.splice(0)) off();
    await this.#observer.close();
    if (!this.#o.shift) return;
    const r = this.report();
    if (this.#o.reportFile) writeFileSync(this.#o.reportFile, JSON.stringify(r, null, 2));
    for (const line of formatLoopReport(r)) this.#o.print(line);
  }
}
