/**
 * RolloutController: the I/O around RolloutMachine. It
 * - keeps the fleet view (FleetDiscovery: every device's retained status and models/report, and the retained fleet
 *   desired-model topics, which say what "previous" is);
 * - starts rollouts (spec + the target's manifest and artifact URL from a ModelSource, usually the registry);
 *   `startFromCandidate()` is the entry point of the retraining loop: a rollout whose first stage is a shadow;
 * - ticks the machines (every tickMs, and right after reports and status changes) and carries out their actions as
 *   retained messages (RolloutPublisher);
 * - persists every change in SQLite (RolloutStore) before acting, so a restarted controller resumes.
 *
 * Rollback re-publishes the previous manifest to each device the rollout touched (a positive instruction the device
 * confirms with an `active` report), then clears the per-device retained message so the device follows the fleet
 * manifest again.
 */
import { randomBytes } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { silentLogger, withBindings, type Logger } from '../../lib/logger.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { ModelReportMessage } from '../../protocol/messages.ts';
import { Topics } from '../../protocol/topics.ts';
import { FleetDiscovery } from './fleet-discovery.ts';
import { candidateSpec, type CandidateInput } from './rollout-candidate.ts';
import { RolloutMachine } from './rollout-machine.ts';
import { RolloutPublisher } from './rollout-publisher.ts';
import { parseRolloutSpec, type RolloutSpecInput } from './rollout-spec.ts';
import { type DesiredTarget, type FleetDevice, type RolloutAction, type RolloutState } from './rollout-state.ts';
import { RolloutStore } from './rollout-store.ts';
import { rolloutOutcome, rolloutView, type RolloutView } from './rollout-view.ts';
import { waitForStatus } from './rollout-wait.ts';
import {
  resolveRolloutControllerOptions,
  type ResolvedRolloutControllerOptions,
  type RolloutControllerOptions,
} from './rollout-controller-options.ts';

export type { ModelSource, RolloutControllerOptions } from './rollout-controller-options.ts';

const statusChannel = channel('edgeloop:rollout:status');
const endedChannel = channel('edgeloop:rollout:ended');

export class RolloutController {
  readonly #o: Readonly<
    Omit<ResolvedRolloutControllerOptions, 'topics' | 'clock' | 'logger'> & {
      topics: Topics;
      clock: Clock;
      logger: Logger;
    }
  >;
  readonly #store: RolloutStore;
  readonly #machines = new Map<string, RolloutMachine>();
  readonly #discovery: FleetDiscovery;
  readonly #publisher: RolloutPublisher;
  #timer: TimerHandle | undefined;
  #tickQueued = false;
  readonly #changeListeners = new Set<(id: string) => void>();
  #started = false;
  #closed = false;

  constructor(opts: RolloutControllerOptions) {
    const o = resolveRolloutControllerOptions(opts);
    this.#o = Object.freeze({
      ...o,
      topics: o.topics ?? new Topics(),
      clock: o.clock ?? systemClock,
      logger: withBindings(o.logger ?? silentLogger, { part: 'rollout' }),
    });
    this.#store = new RolloutStore(opts.dbPath);
    const { transport, topics, clock, logger } = this.#o;
    this.#discovery = new FleetDiscovery({
      transport,
      topics,
      discoveryMs: this.#o.discoveryMs,
      clock,
      logger,
      onReport: (m, now) => this.#onReport(m, now),
      onChange: () => this.#queueTick(),
    });
    this.#publisher = new RolloutPublisher({
      transport,
      topics,
      clock,
      logger,
      nextSeq: (now) => this.#store.nextSeq(now),
      onFleetDesired: (model, msg) => this.#discovery.setFleetDesired(model, msg),
    });
  }

  /** Open the state, resume running rollouts, subscribe. The transport must be started by its owner. */
  async start(): Promise<void> {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'rollout controller is closed');
    if (this.#started) return;
    this.#started = true;
    this.#store.open();
    for (const s of this.#store.active()) {
      this.#machines.set(s.id, new RolloutMachine(s));
      this.#o.logger.info(
        { rollout: s.id, model: s.spec.model, status: s.status, stage: s.stage + 1 },
        'resuming rollout',
      );
    }
    await this.#discovery.start();
    this.#schedule();
  }

  /** Resolves once the discovery time after start has passed (the fleet view is filled from retained messages). */
  async ready(): Promise<void> {
    await this.#discovery.ready();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#discovery.close();
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    // let a tick that is publishing finish, so nothing is published after close() resolved
    await this.#ticking?.catch(() => undefined);
    if (this.#started) this.#store.save([...this.#machines.values()].map((m) => m.state));
    this.#store.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Devices the controller has seen a status from. */
  get fleet(): ReadonlyMap<string, FleetDevice> {
    return this.#discovery.fleet;
  }

  /** A device's models/report goes to the machines of its model (by rollout id; any, while rolling back). */
  #onReport(m: ModelReportMessage, now: number): void {
    for (const machine of this.#machines.values()) {
      if (
        machine.model === m.model &&
        (m.rolloutId === undefined || m.rolloutId === machine.id || machine.state.status === 'rolling-back')
      ) {
        machine.onReport(m.deviceId, m, now);
      }
    }
  }

  #queueTick(): void {
    if (this.#tickQueued || this.#closed) return;
    this.#tickQueued = true;
    setImmediate(() => {
      this.#tickQueued = false;
      void this.#tick();
    });
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#tick().finally(() => this.#schedule());
    }, this.#o.tickMs);
    this.#timer.unref?.();
  }

  #ticking: Promise<void> | undefined;

  async #tick(): Promise<void> {
    if (this.#closed || !this.#discovery.discovered) return;
    if (this.#ticking !== undefined) return this.#ticking;
    this.#ticking = (async () => {
      const now = this.#o.clock.now();
      const work: Array<{ m: RolloutMachine; actions: RolloutAction[] }> = [];
      for (const m of this.#machines.values()) {
        if (m.done) continue;
        const before = `${m.state.status}/${m.state.stage}`;
        const actions = m.tick(now, this.#discovery.fleet);
        work.push({ m, actions });
        if (before !== `${m.state.status}/${m.state.stage}`) this.#announce(m);
      }
      await this.#persistAndAct(work);
    })().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #persistAndAct(work: Array<{ m: RolloutMachine; actions: RolloutAction[] }>): Promise<void> {
    if (this.#closed || work.length === 0) return;
    this.#store.save(work.map((w) => w.m.state));
    for (const { m, actions } of work) {
      for (const a of actions) await this.#publisher.act(m.id, m.model, a);
      for (const l of [...this.#changeListeners]) l(m.id);
      if (m.done) {
        this.#machines.delete(m.id);
        if (m.state.status === 'completed' && this.#o.onCompleted) {
          try {
            await this.#o.onCompleted(m.state);
          } catch (err) {
            this.#o.logger.warn({ err, rollout: m.id }, 'onCompleted hook failed');
          }
        }
        await this.#ended(m.state);
      }
    }
  }

  async #ended(s: RolloutState): Promise<void> {
    const outcome = rolloutOutcome(s);
    if (endedChannel.hasSubscribers) endedChannel.publish(outcome);
    if (!this.#o.onEnded) return;
    try {
      await this.#o.onEnded(outcome);
    } catch (err) {
      this.#o.logger.warn({ err, rollout: s.id }, 'onEnded hook failed');
    }
  }

  #announce(m: RolloutMachine): void {
    const s = m.state;
    this.#o.logger.info(
      {
        rollout: s.id,
        model: s.spec.model,
        version: s.spec.version,
        status: s.status,
        stage: s.stage + 1,
        reason: s.reason,
      },
      'rollout state',
    );
    if (statusChannel.hasSubscribers)
      statusChannel.publish({ id: s.id, model: s.spec.model, status: s.status, stage: s.stage, reason: s.reason });
  }

  // ---------- operations ----------

  /** Start a rollout of spec.model@spec.version (the version may be an alias; it is resolved now). */
  async startRollout(input: RolloutSpecInput): Promise<RolloutView> {
    this.#assertRunning();
    const spec = parseRolloutSpec(input);
    await this.#discovery.ready();
    this.#assertRunning();
    for (const m of this.#machines.values()) {
      if (m.model === spec.model && !m.done) {
        throw new EdgeloopError(
          'EL_ERR_ROLLOUT_ACTIVE',
          `rollout ${m.id} of ${spec.model}@${m.state.spec.version} is ${m.state.status}; abort or roll it back first`,
        );
      }
    }
    if (spec.group !== undefined) {
      const members = this.#o.groups[spec.group];
      if (!members)
        throw new EdgeloopError(
          'EL_ERR_ROLLOUT_SPEC',
          `group "${spec.group}" is not defined (known: ${Object.keys(this.#o.groups).join(', ') || 'none'})`,
        );
      spec.devices = [...new Set([...(spec.devices ?? []), ...members])];
    }
    const target = await this.#o.models.resolve(spec.model, spec.version);
    spec.version = target.version;
    const fd = this.#discovery.fleetDesired(spec.model);
    const previous: DesiredTarget | null = fd
      ? { version: fd.version, artifactUrl: fd.artifactUrl, manifest: fd.manifest }
      : null;
    if (previous && previous.version === target.version) {
      throw new EdgeloopError('EL_ERR_ROLLOUT_SPEC', `${spec.model}@${target.version} is already the fleet's version`);
    }
    const now = this.#o.clock.now();
    const id = `ro-${now.toString(36)}-${randomBytes(3).toString('hex')}`;
    const m = RolloutMachine.create({ id, spec, target, previous, now });
    this.#machines.set(id, m);
    this.#store.save([m.state]);
    this.#announce(m);
    await this.#tick();
    return this.view(id);
  }

  /**
   * The retraining loop's entry point: roll out a candidate with a shadow stage first (the spec's shadow settings,
   * or the defaults), then the staged rollout; approve: manual waits after the shadow for `approve()`.
   */
  async startFromCandidate(c: CandidateInput): Promise<RolloutView> {
    return this.startRollout(candidateSpec(c));
  }

  #find(ref: string): { machine: RolloutMachine | undefined; state: RolloutState } {
    for (const m of this.#machines.values()) if (m.id === ref) return { machine: m, state: m.state };
    // a model name: its running rollout, else its latest
    for (const m of this.#machines.values()) if (m.model === ref) return { machine: m, state: m.state };
    const s = this.#store.get(ref) ?? this.#store.list(ref, 1)[0];
    if (!s)
      throw new EdgeloopError(
        'EL_ERR_ROLLOUT_NOT_FOUND',
        `no rollout ${JSON.stringify(ref)} (give a rollout id or a model name)`,
      );
    return { machine: undefined, state: s };
  }

  view(ref: string): RolloutView {
    this.#assertRunning();
    const { state } = this.#find(ref);
    return this.#view(state);
  }

  list(model?: string): RolloutView[] {
    this.#assertRunning();
    return this.#store.list(model).map((s) => this.#view(this.#machines.get(s.id)?.state ?? s));
  }

  #view(s: RolloutState): RolloutView {
    return rolloutView(s, this.#discovery.fleet, this.#o.clock.now());
  }

  async promote(ref: string): Promise<RolloutView> {
    return this.#operate(ref, (m, now) => m.promote(now));
  }

  /** Go on after a passed shadow stage (approve: manual). */
  async approve(ref: string, by?: string): Promise<RolloutView> {
    return this.#operate(ref, (m, now) => m.approve(now, by));
  }

  async rollback(ref: string, reason?: string): Promise<RolloutView> {
    this.#assertRunning();
    const { machine, state } = this.#find(ref);
    if (!machine && (state.status === 'completed' || state.status === 'aborted')) {
      // ended rollouts leave the active set; bring one back to roll it back
      const m = new RolloutMachine(state);
      this.#machines.set(m.id, m);
      return this.#operate(m.id, (mm, now) => mm.rollback(now, reason));
    }
    return this.#operate(ref, (m, now) => m.rollback(now, reason));
  }

  async abort(ref: string, reason?: string): Promise<RolloutView> {
    return this.#operate(ref, (m, now) => m.abort(now, reason));
  }

  async #operate(ref: string, op: (m: RolloutMachine, now: number) => RolloutAction[]): Promise<RolloutView> {
    this.#assertRunning();
    const { machine, state } = this.#find(ref);
    if (!machine) throw new EdgeloopError('EL_ERR_ROLLOUT_STATE', `rollout ${state.id} is ${state.status}`);
    await this.#ticking;
    const actions = op(machine, this.#o.clock.now());
    this.#announce(machine);
    await this.#persistAndAct([{ m: machine, actions }]);
    if (!machine.done) await this.#tick();
    return this.#view(machine.state);
  }

  /** Wait until the rollout reaches one of `statuses` (tests, scripts). Rejects with EL_ERR_TIMEOUT. */
  async waitFor(ref: string, statuses: Array<RolloutState['status']>, timeoutMs = 30_000): Promise<RolloutView> {
    return waitForStatus(this, ref, statuses, timeoutMs);
  }

  /** Subscribe to state changes (rollout id); returns the unsubscribe function. */
  onChange(listener: (rolloutId: string) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  #assertRunning(): void {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'rollout controller is closed');
    if (!this.#started) throw new EdgeloopError('EL_ERR_CLOSED', 'rollout controller is not started');
  }
}
