/**
 * RolloutController: the I/O around RolloutMachine. It
 * - subscribes to every device's retained status (the fleet view: online, model versions, inference figures),
 *   every device's models/report, and the retained fleet desired-model topics (what "previous" is);
 * - starts rollouts (spec + the target's manifest and artifact URL from a ModelSource, usually the registry),
 * - ticks the machines (every tickMs, and right after reports and status changes) and carries out their actions:
 *   retained per-device ModelDesiredMessage on topics.deviceModel(deviceId, model), an empty retained message to
 *   clear one, and the retained fleet manifest on topics.fleetModel(model) when a rollout completes;
 * - persists every change in SQLite (RolloutStore) before acting, so a restarted controller resumes.
 *
 * Shadow stage: `publish-shadow` / `clear-shadow` actions go to the device's retained shadow topic
 * (Topics.deviceShadow) as a ModelDesiredMessage with role "shadow"; the device's status carries the figures.
 * `startFromCandidate()` is the entry point of the retraining loop: a rollout whose first stage is a shadow.
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
import {
  SCHEMA_VERSION,
  encodeMessage,
  validateDeviceMessage,
  validateModelDesired,
  type ModelDesiredMessage,
} from '../../protocol/messages.ts';
import { FLEET, Topics } from '../../protocol/topics.ts';
import type { Transport } from '../../transport/transport.ts';
import { RolloutMachine } from './rollout-machine.ts';
import {
  TERMINAL_STATUSES,
  type DesiredTarget,
  type FleetDevice,
  type GateResult,
  type RolloutAction,
  type RolloutState,
  type ShadowEntry,
  type ShadowFigures,
  type ShadowState,
  type StageProgress,
} from './rollout-state.ts';
import { parseRolloutSpec, type RolloutSpecInput } from './rollout-spec.ts';
import { RolloutStore } from './rollout-store.ts';

/** Where the controller gets a version's signed manifest and artifact URL (the registry). */
export interface ModelSource {
  resolve(name: string, ref: string): Promise<DesiredTarget>;
}

export interface RolloutControllerOptions {
  /** a started or startable transport to the broker (the controller subscribes and publishes retained messages) */
  transport: Transport;
  /** SQLite file of the rollout state */
  dbPath: string;
  models: ModelSource;
  topics?: Topics;
  /** named device groups for `--group` */
  groups?: Record<string, string[]>;
  /** periodic tick, ms (default 1000) */
  tickMs?: number;
  /**
   * after subscribing, wait this long for the retained status and fleet messages before assigning anything or
   * starting a rollout (the fleet view and "previous" come from them), ms (default 2000)
   */
  discoveryMs?: number;
  /** called when a rollout completes (the part moves the registry's `production` alias) */
  onCompleted?: (state: RolloutState) => void | Promise<void>;
  /**
   * called when a rollout ends in any way (completed, aborted, rolled back) with its final state: status, reason,
   * the shadow figures and gates; the retraining history records why a candidate was not promoted from it
   */
  onEnded?: (outcome: RolloutOutcome) => void | Promise<void>;
  clock?: Clock;
  logger?: Logger;
}

const OPTION_KEYS = new Set([
  'transport',
  'dbPath',
  'models',
  'topics',
  'groups',
  'tickMs',
  'discoveryMs',
  'onCompleted',
  'onEnded',
  'clock',
  'logger',
]);
const statusChannel = channel('edgeloop:rollout:status');
const endedChannel = channel('edgeloop:rollout:ended');

/** How a rollout ended, for the retraining history (onEnded, and the `edgeloop:rollout:ended` channel). */
export interface RolloutOutcome {
  id: string;
  model: string;
  version: string;
  parent: string | null;
  previous: string | null;
  status: RolloutState['status'];
  reason: string | null;
  /** the stage it ended in (1-based; 0 = in or right after the shadow stage) */
  stage: number;
  shadow: RolloutView['shadow'];
  gates: GateResult[];
  endedAt: number | null;
}

/** Start a rollout for a retraining candidate: a shadow stage first, then the staged rollout. */
export interface CandidateInput {
  model: string;
  version: string;
  /** auto: go on when the shadow passes; manual: wait for `rollout approve` */
  approve: 'auto' | 'manual';
  /** the version it was trained from */
  parent?: string;
  /** anything else of the rollout spec (stages, gates, shadow settings, ...) */
  spec?: Omit<RolloutSpecInput, 'model' | 'version' | 'approve' | 'parent'>;
}

export interface RolloutView {
  id: string;
  model: string;
  version: string;
  previous: string | null;
  status: RolloutState['status'];
  reason: string | null;
  stage: number;
  stages: StageProgress[];
  gates: GateResult[];
  /** the shadow stage, when the rollout has one */
  shadow: {
    result: ShadowState['result'];
    percent: number;
    bakeMs: number;
    minWindows: number;
    minDevices: number;
    assigned: number;
    running: number;
    failed: number;
    figures: ShadowFigures | null;
    gates: GateResult[];
    devices: Array<{
      deviceId: string;
      state: ShadowEntry['state'];
      windows: number;
      agreement: number | null;
      reason?: string;
    }>;
    startedAt: number;
    endedAt: number | null;
  } | null;
  approve: 'auto' | 'manual';
  parent: string | null;
  devices: { total: number; assigned: number; active: number; failed: number; reverting: number; reverted: number };
  failures: Array<{ deviceId: string; reason: string }>;
  createdAt: number;
  updatedAt: number;
  endedAt: number | null;
  log: Array<{ at: number; msg: string }>;
}

export class RolloutController {
  readonly #o: Readonly<
    Required<Omit<RolloutControllerOptions, 'onCompleted' | 'onEnded'>> & {
      onCompleted: RolloutControllerOptions['onCompleted'];
      onEnded: RolloutControllerOptions['onEnded'];
    }
  >;
  readonly #store: RolloutStore;
  readonly #machines = new Map<string, RolloutMachine>();
  readonly #fleet = new Map<string, FleetDevice>();
  readonly #fleetDesired = new Map<string, ModelDesiredMessage>();
  #timer: TimerHandle | undefined;
  #tickQueued = false;
  #discovered = false;
  #ready: Promise<void> = Promise.resolve();
  #readyTimer: { h: TimerHandle; resolve: () => void } | undefined;
  readonly #changeListeners = new Set<(id: string) => void>();
  #started = false;
  #closed = false;
  #onMessage = (topic: string, payload: Buffer): void => this.#handle(topic, payload);
  #onConnect = (): void =>
    void this.#subscribe().catch((err: unknown) => this.#o.logger.warn({ err }, 'resubscribe failed'));

  constructor(opts: RolloutControllerOptions) {
    for (const k of Object.keys(opts ?? {})) {
      if (!OPTION_KEYS.has(k))
        throw new EdgeloopError(
          'EL_ERR_INVALID_ARGUMENT',
          `RolloutController: unknown option "${k}" (known: ${[...OPTION_KEYS].join(', ')})`,
        );
    }
    if (!opts.transport)
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'RolloutController: option "transport" is required');
    if (!opts.models)
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        'RolloutController: option "models" (a ModelSource) is required',
      );
    const tickMs = opts.tickMs ?? 1000;
    if (!(tickMs > 0))
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `RolloutController: tickMs must be > 0, got ${tickMs}`);
    this.#o = Object.freeze({
      transport: opts.transport,
      dbPath: opts.dbPath,
      models: opts.models,
      topics: opts.topics ?? new Topics(),
      groups: opts.groups ?? {},
      tickMs,
      discoveryMs: opts.discoveryMs ?? 2000,
      onCompleted: opts.onCompleted,
      onEnded: opts.onEnded,
      clock: opts.clock ?? systemClock,
      logger: withBindings(opts.logger ?? silentLogger, { part: 'rollout' }),
    });
    this.#store = new RolloutStore(opts.dbPath);
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
    this.#o.transport.on('message', this.#onMessage);
    this.#o.transport.on('connect', this.#onConnect);
    if (this.#o.transport.connected) await this.#subscribe();
    this.#ready = new Promise<void>((resolve) => {
      const h = this.#o.clock.setTimeout(() => {
        this.#discovered = true;
        this.#readyTimer = undefined;
        resolve();
      }, this.#o.discoveryMs);
      h.unref?.();
      this.#readyTimer = { h, resolve };
    });
    this.#schedule();
  }

  /** Resolves once the discovery time after start has passed (the fleet view is filled from retained messages). */
  async ready(): Promise<void> {
    await this.#ready;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#o.transport.off('message', this.#onMessage);
    this.#o.transport.off('connect', this.#onConnect);
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#readyTimer) {
      this.#o.clock.clearTimeout(this.#readyTimer.h);
      this.#readyTimer.resolve();
      this.#readyTimer = undefined;
    }
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
    return this.#fleet;
  }

  async #subscribe(): Promise<void> {
    const p = this.#o.topics.prefix;
    // the fleet manifests first, in their own SUBSCRIBE: with thousands of retained statuses streaming in one
    // packet, aedes was seen to skip the retained fleet messages of a later filter in the same packet
    await this.#o.transport.subscribe([`${p}/${FLEET}/models/+`], 1);
    await this.#o.transport.subscribe([`${p}/+/status`, `${p}/+/models/report`], 1);
  }

  #handle(topic: string, payload: Buffer): void {
    if (this.#closed) return;
    const t = this.#o.topics.parse(topic);
    if (!t) return;
    try {
      if (t.kind === 'model-desired' && t.deviceId === undefined && t.modelName) {
        if (payload.byteLength === 0) this.#fleetDesired.delete(t.modelName);
        else this.#fleetDesired.set(t.modelName, validateModelDesired(JSON.parse(payload.toString('utf8'))));
        return;
      }
      if (t.kind !== 'status' && t.kind !== 'model-report') return;
      if (payload.byteLength === 0) {
        if (t.kind === 'status' && t.deviceId) this.#fleet.delete(t.deviceId);
        return;
      }
      const m = validateDeviceMessage(JSON.parse(payload.toString('utf8')));
      if (m.deviceId !== t.deviceId) return;
      const now = this.#o.clock.now();
      if (m.type === 'status') {
        // the status's own time: a retained status delivered on subscribe is as old as the device's last word
        this.#fleet.set(m.deviceId, {
          online: m.online,
          models: m.models ?? [],
          inference: m.inference,
          ...(Array.isArray(m.shadow) ? { shadow: m.shadow } : {}),
          lastSeen: Math.min(m.ts, now),
        });
      } else if (m.type === 'model-report') {
        const fd = this.#fleet.get(m.deviceId);
        if (fd) fd.lastSeen = now;
        for (const machine of this.#machines.values()) {
          if (
            machine.model === m.model &&
            (m.rolloutId === undefined || m.rolloutId === machine.id || machine.state.status === 'rolling-back')
          ) {
            machine.onReport(m.deviceId, m, now);
          }
        }
      }
      this.#queueTick();
    } catch (err) {
      this.#o.logger.debug({ err, topic }, 'message ignored');
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
    if (this.#closed || !this.#discovered) return;
    if (this.#ticking !== undefined) return this.#ticking;
    this.#ticking = (async () => {
      const now = this.#o.clock.now();
      const work: Array<{ m: RolloutMachine; actions: RolloutAction[] }> = [];
      for (const m of this.#machines.values()) {
        if (m.done) continue;
        const before = `${m.state.status}/${m.state.stage}`;
        const actions = m.tick(now, this.#fleet);
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
      for (const a of actions) await this.#act(m, a);
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

  async #act(m: RolloutMachine, a: RolloutAction): Promise<void> {
    const model = m.model;
    const topics = this.#o.topics;
    try {
      if (a.type === 'publish-device') {
        await this.#publish(topics.deviceModel(a.deviceId, model), this.#desired(model, a.target, m.id));
      } else if (a.type === 'publish-shadow') {
        await this.#publish(topics.deviceShadow(a.deviceId, model), this.#desired(model, a.target, m.id, 'shadow'));
      } else if (a.type === 'clear-shadow') {
        await this.#o.transport.publish({
          topic: topics.deviceShadow(a.deviceId, model),
          payload: new Uint8Array(0),
          qos: 1,
          retain: true,
        });
      } else if (a.type === 'clear-device') {
        await this.#o.transport.publish({
          topic: topics.deviceModel(a.deviceId, model),
          payload: new Uint8Array(0),
          qos: 1,
          retain: true,
        });
      } else {
        const topic = topics.fleetModel(model);
        if (a.target) {
          const msg = this.#desired(model, a.target, undefined);
          this.#fleetDesired.set(model, msg);
          await this.#publish(topic, msg);
        } else {
          this.#fleetDesired.delete(model);
          await this.#o.transport.publish({ topic, payload: new Uint8Array(0), qos: 1, retain: true });
        }
      }
    } catch (err) {
      // a device that misses its assignment times out and gets it again; fleet/clear publications are logged
      this.#o.logger.warn({ err, rollout: m.id, action: a.type }, 'publish failed');
    }
  }

  async #ended(s: RolloutState): Promise<void> {
    const v = this.#view(s);
    const outcome: RolloutOutcome = {
      id: s.id,
      model: s.spec.model,
      version: s.spec.version,
      parent: s.spec.parent ?? null,
      previous: s.previous?.version ?? null,
      status: s.status,
      reason: s.reason,
      stage: s.shadow && s.shadow.result !== 'passed' && s.shadow.result !== 'skipped' ? 0 : s.stage + 1,
      shadow: v.shadow,
      gates: s.gates,
      endedAt: s.endedAt,
    };
    if (endedChannel.hasSubscribers) endedChannel.publish(outcome);
    if (!this.#o.onEnded) return;
    try {
      await this.#o.onEnded(outcome);
    } catch (err) {
      this.#o.logger.warn({ err, rollout: s.id }, 'onEnded hook failed');
    }
  }

  #desired(name: string, t: DesiredTarget, rolloutId: string | undefined, role?: 'shadow'): ModelDesiredMessage {
    const now = this.#o.clock.now();
    return {
      v: SCHEMA_VERSION,
      type: 'model-desired',
      name,
      version: t.version,
      artifactUrl: t.artifactUrl,
      manifest: t.manifest,
      ...(rolloutId ? { rolloutId } : {}),
      seq: this.#store.nextSeq(now),
      ts: now,
      ...(role ? { role } : {}),
    };
  }

  async #publish(topic: string, msg: ModelDesiredMessage): Promise<void> {
    await this.#o.transport.publish({ topic, payload: encodeMessage(msg), qos: 1, retain: true });
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
    await this.#ready;
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
    const fd = this.#fleetDesired.get(spec.model);
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
    if (!c || typeof c !== 'object')
      throw new EdgeloopError('EL_ERR_ROLLOUT_SPEC', 'candidate: expected { model, version, approve }');
    if (c.approve !== 'auto' && c.approve !== 'manual')
      throw new EdgeloopError(
        'EL_ERR_ROLLOUT_SPEC',
        `candidate approve: expected "auto" or "manual", got ${JSON.stringify(c.approve)}`,
      );
    const extra = c.spec ?? {};
    return this.startRollout({
      ...extra,
      model: c.model,
      version: c.version,
      shadow: extra.shadow === undefined || extra.shadow === false ? true : extra.shadow,
      approve: c.approve,
      ...(c.parent !== undefined ? { parent: c.parent } : {}),
    });
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
    const es = Object.entries(s.devices);
    const count = (st: string): number => es.filter(([, e]) => e.state === st).length;
    const m = new RolloutMachine(s);
    return {
      id: s.id,
      model: s.spec.model,
      version: s.spec.version,
      previous: s.previous?.version ?? null,
      status: s.status,
      reason: s.reason,
      stage: s.stage + 1,
      stages: m.progress(this.#fleet, this.#o.clock.now()),
      gates: s.gates,
      shadow: shadowView(s),
      approve: s.spec.approve ?? 'auto',
      parent: s.spec.parent ?? null,
      devices: {
        total: s.spec.devices?.length ?? this.#fleet.size,
        assigned: es.length,
        active: count('active'),
        failed: count('failed'),
        reverting: count('reverting'),
        reverted: count('reverted'),
      },
      failures: es.filter(([, e]) => e.reason).map(([deviceId, e]) => ({ deviceId, reason: e.reason! })),
      createdAt: s.createdAt,
      updatedAt: s.updatedAt,
      endedAt: s.endedAt,
      log: s.log.slice(-20),
    };
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
    const id = this.view(ref).id;
    return new Promise<RolloutView>((resolve, reject) => {
      const check = (): boolean => {
        const v = this.view(id);
        if (statuses.includes(v.status)) {
          done();
          resolve(v);
          return true;
        }
        if (TERMINAL_STATUSES.has(v.status)) {
          done();
          reject(
            new EdgeloopError(
              'EL_ERR_TIMEOUT',
              `rollout ${v.id} ended ${v.status}${v.reason ? ` (${v.reason})` : ''}, waited for ${statuses.join('|')}`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        const v = this.view(id);
        reject(
          new EdgeloopError(
            'EL_ERR_TIMEOUT',
            `rollout ${v.id} is ${v.status}${v.reason ? ` (${v.reason})` : ''} after ${timeoutMs} ms, waited for ${statuses.join('|')}`,
          ),
        );
      }, timeoutMs);
      const listener = (changed: string): void => {
        if (changed === id) check();
      };
      const done = (): void => {
        clearTimeout(timer);
        this.#changeListeners.delete(listener);
      };
      this.#changeListeners.add(listener);
      check();
    });
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

function shadowView(s: RolloutState): RolloutView['shadow'] {
  const sh = s.shadow;
  const sp = s.spec.shadow;
  if (!sh || !sp) return null;
  const es = Object.entries(sh.devices);
  return {
    result: sh.result,
    percent: sp.percent,
    bakeMs: sp.bakeMs,
    minWindows: sp.minWindows,
    minDevices: sp.minDevices,
    assigned: es.length,
    running: es.filter(([, e]) => e.state === 'running').length,
    failed: es.filter(([, e]) => e.state === 'failed').length,
    figures: sh.figures,
    gates: sh.gates,
    devices: es.map(([deviceId, e]) => ({
      deviceId,
      state: e.state,
      windows: e.report?.windows ?? 0,
      agreement: e.report && e.report.windows > 0 ? e.report.agreements / e.report.windows : null,
      ...(e.reason ? { reason: e.reason } : {}),
    })),
    startedAt: sh.startedAt,
    endedAt: sh.endedAt,
  };
}
