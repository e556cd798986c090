/**
 * The part kernel: one way to put a process together.
 *
 * Size: one concern, the kernel; definitions, ordering, start/close and health are one state machine that reads
 * best whole (its helpers without state are already in this file's end, not worth a module each).
 *
 * A part is a definition (`definePart`) of something long-lived: its name, the parts it needs (by reference to
 * their definitions, so the values it receives are typed), and a factory that builds it from them. A `System`
 * takes the parts a process wants, pulls in what they need, starts them in dependency order, reports their
 * health, and closes them in reverse order; it refuses a cycle, a duplicate name or a missing requirement before
 * building anything, naming the parts involved.
 *
 *   const db = definePart({ name: 'db', create: (_, ctx) => new Db(ctx.config.path) });
 *   const api = definePart({ name: 'api', requires: { db }, create: ({ db }) => new Api({ db }) });
 *   const system = new System({ parts: [api], context: { config } });   // db comes along
 *   await system.start();                                                 // db.start(), then api.start()
 *   system.get(api).url;                                                  // typed: Api
 *   await system.close();                                                 // api.close(), then db.close()
 *
 * The value a factory returns is the part's instance. Its own `start()` / `close()` / `health()` methods are
 * its lifecycle unless the definition gives hooks of its own (for instances whose methods are named otherwise).
 * A factory may also return `{ instance, start?, close?, health? }` through `withLifecycle()` when the lifecycle
 * is not the instance's (a metrics registration, an adapter around two objects).
 *
 * Lifecycle rules, the same for every part and every process:
 * - `start()` starts parts one at a time in order; if one fails (to build or to start), the parts already
 *   started are closed in reverse and `start()` rejects: with the component's EdgeloopError as it is, or with
 *   EL_ERR_PART_START naming the part (the error attached as its cause).
 * - `close()` is idempotent, waits for a `start()` in progress, closes every started part in reverse even when
 *   one fails (the first error is thrown after all were tried), and may be called before `start()`.
 * - While started, the system holds the process open (one ref'd handle) when `keepAlive` is set: a service whose
 *   parts all use unref'd timers (a processor polling a stream) does not exit on an empty event loop. Released on
 *   close.
 * - `[Symbol.asyncDispose]` closes (`await using system = ...`).
 */
import { EdgeloopError } from '../protocol/errors.ts';

export interface PartHealth {
  ok: boolean;
  [k: string]: unknown;
}

/** What a part's lifecycle may consist of; every member is optional. */
export interface Lifecycle {
  start?(): unknown;
  close?(): unknown;
  health?(): PartHealth;
}

// any part, whatever it provides, needs and is built from (the context type is contravariant)
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyPart = PartDefinition<string, any, any, any>;
type Requirements = Record<string, AnyPart>;
/** The instance type a definition provides. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type InstanceOf<P> = P extends PartDefinition<string, infer T, any, any> ? T : never;
/** What a factory receives for its requirements: each required part's instance; optional ones may be undefined. */
export type Needs<R extends Requirements, O extends Requirements> = { readonly [K in keyof R]: InstanceOf<R[K]> } & {
  readonly [K in keyof O]: InstanceOf<O[K]> | undefined;
};

const LIFECYCLE = Symbol('edgeloop.lifecycle');

interface Wrapped<T> {
  readonly [LIFECYCLE]: true;
  readonly instance: T;
  readonly lifecycle: Lifecycle;
}

/** Return from a factory when the lifecycle is not the instance's own methods. */
export function withLifecycle<T>(instance: T, lifecycle: Lifecycle): Wrapped<T> {
  return { [LIFECYCLE]: true, instance, lifecycle };
}

export interface PartDefinition<N extends string, T, R extends Requirements, C> {
  readonly name: N;
  readonly requires: R;
  readonly optional: Requirements;
  // methods, not function-typed properties: a part that needs more specific things is still "a part"
  /** false: the part does not apply to this context (it is left out; parts requiring it fail with EL_ERR_PART_MISSING) */
  enabled(ctx: C): boolean;
  create(needs: Needs<R, Requirements>, ctx: C): T | Wrapped<T> | Promise<T | Wrapped<T>>;
  readonly hooks: { start?(instance: T): unknown; close?(instance: T): unknown; health?(instance: T): PartHealth };
}

export interface PartSpec<N extends string, T, R extends Requirements, O extends Requirements, C> {
  name: N;
  /** parts this one needs started before it; their instances are passed to `create` */
  requires?: R;
  /** parts used when the process runs them (undefined otherwise); they start first when present */
  optional?: O;
  enabled?: (ctx: C) => boolean;
  create(needs: Needs<R, O>, ctx: C): T | Wrapped<T> | Promise<T | Wrapped<T>>;
  /** lifecycle hooks instead of the instance's own start/close/health methods */
  start?(instance: T): unknown;
  close?(instance: T): unknown;
  health?(instance: T): PartHealth;
}

const NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;

/** Define a part. Requirements are definitions, not names: a misspelled requirement does not compile. */
export function definePart<
  const N extends string,
  T,
  C = unknown,
  R extends Requirements = {},
  O extends Requirements = {},
>(spec: PartSpec<N, T, R, O, C>): PartDefinition<N, T, R, C> {
  if (typeof spec?.name !== 'string' || !NAME_RE.test(spec.name)) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `definePart: name ${JSON.stringify(spec?.name)} must be lower-case letters, digits and "-" (1-63 characters)`,
    );
  }
  if (typeof spec.create !== 'function')
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `definePart("${spec.name}"): create must be a function`);
  const hooks: PartDefinition<N, T, R, C>['hooks'] = {};
  if (spec.start) hooks.start = spec.start.bind(spec);
  if (spec.close) hooks.close = spec.close.bind(spec);
  if (spec.health) hooks.health = spec.health.bind(spec);
  return Object.freeze({
    name: spec.name,
    requires: Object.freeze({ ...(spec.requires ?? ({} as R)) }),
    optional: Object.freeze({ ...(spec.optional ?? {}) }),
    enabled: spec.enabled ?? (() => true),
    create: spec.create as PartDefinition<N, T, R, C>['create'],
    hooks,
  });
}

export interface SystemOptions<C> {
  /** the parts the process wants; their requirements are added */
  parts: readonly AnyPart[];
  /** shared by every factory: config, logger, clock, metrics registry … */
  context: C;
  /**
   * Ready-made instances for some parts (tests, a caller that owns a stream): used instead of building the part,
   * started with it if they have start(), never closed by the system (the caller owns them).
   */
  provided?: ReadonlyArray<readonly [AnyPart, unknown]>;
  /**
   * Definitions that stand in for others: wherever a part (listed or required) is `[from]`, `[to]` runs instead,
   * and parts that require `from` receive `to`'s instance (a differently configured part of the same role).
   */
  replace?: ReadonlyArray<readonly [AnyPart, AnyPart]>;
  /** hold the process open while started (one ref'd handle). Default false. */
  keepAlive?: boolean;
  /** told about each part as it starts and closes */
  onEvent?: (e: { part: string; event: 'started' | 'closed' | 'close-failed'; error?: unknown }) => void;
}

interface Built {
  def: AnyPart;
  instance: unknown;
  lifecycle: Lifecycle;
  owned: boolean;
}

type State = 'new' | 'starting' | 'started' | 'closing' | 'closed';

export class System<C = unknown> {
  readonly #o: SystemOptions<C>;
  /** definitions in start order (dependencies first) */
  readonly #order: AnyPart[];
  readonly #provided: Map<AnyPart, unknown>;
  readonly #sub: (d: AnyPart) => AnyPart;
  readonly #built = new Map<AnyPart, Built>();
  readonly #started: Built[] = [];
  #state: State = 'new';
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #keepAlive: NodeJS.Timeout | undefined;

  constructor(opts: SystemOptions<C>) {
    if (!opts || !Array.isArray(opts.parts))
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'System: options.parts must be an array of part definitions');
    this.#o = opts;
    this.#provided = new Map(opts.provided ?? []);
    const replace = new Map(opts.replace ?? []);
    this.#sub = (d) => replace.get(d) ?? d;
    this.#order = resolveOrder(opts.parts.map(this.#sub), opts.context, this.#provided, this.#sub);
  }

  /** Names of the parts this system runs, in start order. */
  get names(): string[] {
    return this.#order.map((d) => d.name);
  }

  get state(): State {
    return this.#state;
  }

  /** Whether the system runs this part. */
  has(def: AnyPart): boolean {
    return this.#order.includes(def);
  }

  /** The instance of a part the system runs (after start has built it). */
  get<P extends AnyPart>(def: P): InstanceOf<P> {
    const b = this.#built.get(def);
    if (!b) {
      const why = this.#order.includes(def) ? 'is not built yet (start() first)' : 'is not part of this system';
      throw new EdgeloopError('EL_ERR_PART_MISSING', `part "${def.name}" ${why}`);
    }
    return b.instance as InstanceOf<P>;
  }

  /** The instance, or undefined when the part is not built (not selected, disabled, or not started yet). */
  find<P extends AnyPart>(def: P): InstanceOf<P> | undefined {
    return this.#built.get(def)?.instance as InstanceOf<P> | undefined;
  }

  start(): Promise<void> {
    if (this.#state === 'started') return Promise.resolve();
    if (this.#state === 'starting') return this.#starting!;
    if (this.#state !== 'new')
      return Promise.reject(new EdgeloopError('EL_ERR_CLOSED', `the system cannot start: it is ${this.#state}`));
    this.#state = 'starting';
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    try {
      for (const def of this.#order) {
        if (this.#state !== 'starting') break; // close() was called meanwhile
        const b = await this.#build(def);
        try {
          await (b.lifecycle.start ? b.lifecycle.start() : undefined);
        } catch (cause) {
          throw partError(def, 'failed to start', cause);
        }
        this.#started.push(b);
        this.#o.onEvent?.({ part: def.name, event: 'started' });
      }
    } catch (err) {
      if (this.#state === 'starting') this.#state = 'closing';
      await this.#closeStarted().catch(() => {});
      this.#state = 'closed';
      throw err;
    }
    if (this.#state !== 'starting') return;
    this.#state = 'started';
    // a far-future interval keeps the event loop alive; cleared on close
    if (this.#o.keepAlive) this.#keepAlive = setInterval(() => {}, 1 << 30);
  }

  async #build(def: AnyPart): Promise<Built> {
    if (this.#provided.has(def)) {
      const instance = this.#provided.get(def);
      const b: Built = { def, instance, lifecycle: lifecycleOf(def, instance, false), owned: false };
      this.#built.set(def, b);
      return b;
    }
    const needs: Record<string, unknown> = {};
    for (const [key, req] of Object.entries(def.requires))
      needs[key] = this.#built.get(this.#sub(req as AnyPart))!.instance;
    for (const [key, opt] of Object.entries(def.optional))
      needs[key] = this.#built.get(this.#sub(opt as AnyPart))?.instance;
    let made: unknown;
    try {
      made = await def.create(needs as never, this.#o.context);
    } catch (cause) {
      throw partError(def, 'could not be built', cause);
    }
    const wrapped = isWrapped(made) ? made : undefined;
    const instance = wrapped ? wrapped.instance : made;
    const b: Built = {
      def,
      instance,
      lifecycle: wrapped ? bindHooks(def, instance, wrapped.lifecycle) : lifecycleOf(def, instance, true),
      owned: true,
    };
    this.#built.set(def, b);
    return b;
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#state === 'closed') return Promise.resolve();
    this.#closing = this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const wasStarting = this.#state === 'starting';
    this.#state = 'closing';
    if (this.#keepAlive) clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
    // a start in progress stops before its next part and closes what it started itself
    if (wasStarting) await this.#starting?.catch(() => {});
    try {
      await this.#closeStarted();
    } finally {
      this.#state = 'closed';
    }
  }

  async #closeStarted(): Promise<void> {
    let first: unknown;
    for (const b of this.#started.splice(0).reverse()) {
      if (!b.owned) continue;
      try {
        await (b.lifecycle.close ? b.lifecycle.close() : undefined);
        this.#o.onEvent?.({ part: b.def.name, event: 'closed' });
      } catch (error) {
        first ??= partError(b.def, 'failed to close', error, 'EL_ERR_PART_CLOSE');
        this.#o.onEvent?.({ part: b.def.name, event: 'close-failed', error });
      }
    }
    if (first !== undefined) throw first;
  }

  /** Health of every built part; ok only while started and every part is ok. */
  health(): { ok: boolean; state: State; parts: Record<string, PartHealth> } {
    const parts: Record<string, PartHealth> = {};
    let ok = this.#state === 'started';
    for (const def of this.#order) {
      const b = this.#built.get(def);
      if (!b) continue;
      let h: PartHealth;
      try {
        h = b.lifecycle.health?.() ?? { ok: this.#state === 'started' };
      } catch (err) {
        h = { ok: false, error: (err as Error).message };
      }
      parts[def.name] = h;
      ok &&= h.ok;
    }
    return { ok, state: this.#state, parts };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function isWrapped(x: unknown): x is Wrapped<unknown> {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[LIFECYCLE] === true;
}

function lifecycleOf(def: AnyPart, instance: unknown, owned: boolean): Lifecycle {
  const own =
    (typeof instance === 'object' || typeof instance === 'function') && instance !== null
      ? (instance as Lifecycle)
      : {};
  const l: Lifecycle = {};
  const start = def.hooks.start
    ? () => def.hooks.start!(instance)
    : typeof own.start === 'function'
      ? () => own.start!()
      : undefined;
  if (start) l.start = start;
  if (owned) {
    const close = def.hooks.close
      ? () => def.hooks.close!(instance)
      : typeof own.close === 'function'
        ? () => own.close!()
        : undefined;
    if (close) l.close = close;
  }
  const health = def.hooks.health
    ? () => def.hooks.health!(instance)
    : typeof own.health === 'function'
      ? () => own.health!()
      : undefined;
  if (health) l.health = health;
  return l;
}

function bindHooks(def: AnyPart, instance: unknown, l: Lifecycle): Lifecycle {
  return {
    ...l,
    ...(def.hooks.start ? { start: () => def.hooks.start!(instance) } : {}),
    ...(def.hooks.close ? { close: () => def.hooks.close!(instance) } : {}),
    ...(def.hooks.health ? { health: () => def.hooks.health!(instance) } : {}),
  };
}

/**
 * The error a failed part raises. An EdgeloopError is the component's own statement of what went wrong (its code
 * and message are what callers match on and users read: "data directory … is in use by PID 123"): it passes
 * through as it is. Any other error becomes EL_ERR_PART_START naming the part, with the error as its cause.
 */
function partError(
  def: AnyPart,
  what: string,
  cause: unknown,
  code: 'EL_ERR_PART_START' | 'EL_ERR_PART_CLOSE' = 'EL_ERR_PART_START',
): EdgeloopError {
  if (cause instanceof EdgeloopError) return cause;
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new EdgeloopError(code, `part "${def.name}" ${what}: ${msg}`, { cause, details: { part: def.name } });
}

/**
 * Dependency order of the wanted parts and everything they require: depth-first, requirements before the part,
 * and otherwise the order in which parts were listed (a stable, readable start order). Optional requirements are
 * ordered first when they are in the system; they never pull a part in. Throws before anything is built.
 */
function resolveOrder<C>(
  wanted: readonly AnyPart[],
  ctx: C,
  provided: ReadonlyMap<AnyPart, unknown>,
  sub: (d: AnyPart) => AnyPart,
): AnyPart[] {
  const byName = new Map<string, AnyPart>();
  const included = new Set<AnyPart>();
  const collect = (def: AnyPart, from: string[]): void => {
    if (!def || typeof def.name !== 'string' || typeof def.create !== 'function') {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `System: ${from.length ? `a requirement of "${from.at(-1)}"` : 'a listed part'} is not a part definition (was it imported?)`,
      );
    }
    const other = byName.get(def.name);
    if (other && other !== def)
      throw new EdgeloopError(
        'EL_ERR_PART_DUPLICATE',
        `two different parts are named "${def.name}"${from.length ? ` (the second is required by ${from.join(' → ')})` : ''}`,
      );
    if (included.has(def)) return;
    if (!provided.has(def) && !def.enabled(ctx)) {
      if (from.length === 0) return; // a listed part that does not apply to this configuration is left out
      throw new EdgeloopError(
        'EL_ERR_PART_MISSING',
        `part "${from.at(-1)}" requires "${def.name}", which does not apply to this configuration (${[...from, def.name].join(' → ')})`,
      );
    }
    byName.set(def.name, def);
    included.add(def);
    if (provided.has(def)) return; // a provided instance needs nothing built for it
    for (const req of Object.values(def.requires)) collect(sub(req as AnyPart), [...from, def.name]);
  };
  for (const d of wanted) collect(d, []);

  const order: AnyPart[] = [];
  const done = new Set<AnyPart>();
  const visiting: AnyPart[] = [];
  const visit = (def: AnyPart): void => {
    if (done.has(def)) return;
    const at = visiting.indexOf(def);
    if (at >= 0) {
      const cycle = [...visiting.slice(at), def].map((d) => d.name).join(' → ');
      throw new EdgeloopError('EL_ERR_PART_CYCLE', `parts depend on each other in a cycle: ${cycle}`);
    }
    visiting.push(def);
    if (!provided.has(def)) {
      for (const req of Object.values(def.requires)) visit(sub(req as AnyPart));
      for (const opt of Object.values(def.optional)) if (included.has(sub(opt as AnyPart))) visit(sub(opt as AnyPart));
    }
    visiting.pop();
    done.add(def);
    order.push(def);
  };
  for (const d of wanted) if (included.has(d)) visit(d);
  for (const d of included) visit(d);
  return order;
}
