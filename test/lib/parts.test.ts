import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { definePart, System, withLifecycle, type PartHealth } from '../../lib/parts.ts';
import { EdgeloopError } from '../../protocol/errors.ts';

/** A component that records what happened to it, in one shared log. */
class Thing {
  started = false;
  closed = false;
  readonly name: string;
  readonly log: string[];
  readonly opts: { failStart?: boolean; failClose?: boolean; ok?: boolean };
  constructor(name: string, log: string[], opts: { failStart?: boolean; failClose?: boolean; ok?: boolean } = {}) {
    this.name = name;
    this.log = log;
    this.opts = opts;
  }
  async start(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (this.opts.failStart) throw new Error(`${this.name} cannot start`);
    this.started = true;
    this.log.push(`start ${this.name}`);
  }
  async close(): Promise<void> {
    this.log.push(`close ${this.name}`);
    this.closed = true;
    if (this.opts.failClose) throw new Error(`${this.name} cannot close`);
  }
  health(): PartHealth {
    return { ok: this.opts.ok ?? true, name: this.name };
  }
}

interface Ctx {
  log: string[];
  fail?: string;
  failClose?: string;
  withCache?: boolean;
}
const thing = (name: string, ctx: Ctx): Thing =>
  new Thing(name, ctx.log, { failStart: ctx.fail === name, failClose: ctx.failClose === name });

const db = definePart({ name: 'db', create: (_n, ctx: Ctx) => thing('db', ctx) });
const cache = definePart({
  name: 'cache',
  enabled: (ctx: Ctx) => ctx.withCache === true,
  create: (_n, ctx: Ctx) => thing('cache', ctx),
});
const stream = definePart({
  name: 'stream',
  requires: { db },
  create: ({ db }, ctx: Ctx) => Object.assign(thing('stream', ctx), { db }),
});
const api = definePart({
  name: 'api',
  requires: { db, stream },
  optional: { cache },
  create: ({ db, stream, cache }, ctx: Ctx) => Object.assign(thing('api', ctx), { db, stream, cache }),
});

describe('System', () => {
  it('pulls in requirements, starts in dependency order, passes typed instances, closes in reverse', async () => {
    const log: string[] = [];
    const system = new System({ parts: [api], context: { log } });
    expect(system.names).toEqual(['db', 'stream', 'api']);
    await system.start();
    expect(log).toEqual(['start db', 'start stream', 'start api']);
    const a = system.get(api);
    expectTypeOf(a.stream.db).toEqualTypeOf<Thing>();
    expect(a.stream.db).toBe(system.get(db));
    expect(a.cache).toBeUndefined();
    expect(system.health()).toEqual({
      ok: true,
      state: 'started',
      parts: { db: { ok: true, name: 'db' }, stream: { ok: true, name: 'stream' }, api: { ok: true, name: 'api' } },
    });
    await system.close();
    expect(log.slice(3)).toEqual(['close api', 'close stream', 'close db']);
    expect(system.state).toBe('closed');
    await system.close(); // idempotent
    expect(log).toHaveLength(6);
    await expect(system.start()).rejects.toMatchObject({ code: 'EL_ERR_CLOSED' });
  });

  it('uses an optional part when the configuration runs it, started before its user', async () => {
    const log: string[] = [];
    const system = new System({ parts: [api, cache], context: { log, withCache: true } });
    expect(system.names).toEqual(['db', 'stream', 'cache', 'api']);
    await system.start();
    expect(system.get(api).cache).toBe(system.get(cache));
    await system.close();
    // a listed part that does not apply is left out; one that is required fails before anything is built
    expect(new System({ parts: [api, cache], context: { log } }).names).toEqual(['db', 'stream', 'api']);
    const needsCache = definePart({ name: 'needs-cache', requires: { cache }, create: () => ({}) });
    expect(() => new System({ parts: [needsCache], context: { log } })).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_PART_MISSING',
        message:
          'part "needs-cache" requires "cache", which does not apply to this configuration (needs-cache → cache)',
      }),
    );
  });

  it('refuses a cycle and a duplicate name, naming the parts, before building anything', () => {
    const log: string[] = [];
    // definitions are frozen and name their requirements by reference, so definePart cannot make a cycle:
    // a hand-made definition can
    const a = {
      name: 'a',
      requires: {} as Record<string, unknown>,
      optional: {},
      enabled: () => true,
      create: () => ({}),
      hooks: {},
    };
    const b = definePart({ name: 'b', requires: { a: a as never }, create: () => ({}) });
    const c = definePart({ name: 'c', requires: { b }, create: () => ({}) });
    a.requires = { c };
    expect(() => new System({ parts: [c], context: { log } })).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_PART_CYCLE',
        message: 'parts depend on each other in a cycle: c → b → a → c',
      }),
    );
    const db2 = definePart({ name: 'db', create: () => ({}) });
    const user = definePart({ name: 'user', requires: { db: db2 }, create: () => ({}) });
    expect(() => new System({ parts: [stream, user], context: { log } })).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_PART_DUPLICATE',
        message: 'two different parts are named "db" (the second is required by user)',
      }),
    );
    expect(() => definePart({ name: 'Bad Name', create: () => ({}) })).toThrow(/lower-case/);
    expect(log).toEqual([]);
  });

  it('closes what started, in reverse, when a part fails to start or to build; the error names the part', async () => {
    const log: string[] = [];
    const system = new System({ parts: [api], context: { log, fail: 'api' } });
    const err = await system.start().catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'EL_ERR_PART_START',
      message: 'part "api" failed to start: api cannot start',
      details: { part: 'api' },
    });
    expect((err as Error).cause).toBeInstanceOf(Error);
    expect(log).toEqual(['start db', 'start stream', 'close stream', 'close db']);
    expect(system.state).toBe('closed');

    const coded = definePart({
      name: 'coded',
      create: () => ({
        start: () => {
          throw new EdgeloopError('EL_ERR_BROKER_LISTEN', 'port 1883 in use');
        },
      }),
    });
    // a component's own EdgeloopError is its statement of what failed: it passes through as it is
    await expect(new System({ parts: [coded], context: {} }).start()).rejects.toMatchObject({
      code: 'EL_ERR_BROKER_LISTEN',
      message: 'port 1883 in use',
    });

    const broken = definePart({
      name: 'broken',
      requires: { db },
      create: () => {
        throw new TypeError('no such file');
      },
    });
    const log2: string[] = [];
    const s2 = new System({ parts: [broken], context: { log: log2 } });
    await expect(s2.start()).rejects.toMatchObject({
      code: 'EL_ERR_PART_START',
      message: 'part "broken" could not be built: no such file',
    });
    expect(log2).toEqual(['start db', 'close db']);
  });

  it('tries every close when one fails, then throws the first failure', async () => {
    const log: string[] = [];
    const events: string[] = [];
    const system = new System({
      parts: [api],
      context: { log, failClose: 'stream' },
      onEvent: (e) => events.push(`${e.event} ${e.part}`),
    });
    await system.start();
    await expect(system.close()).rejects.toMatchObject({
      code: 'EL_ERR_PART_CLOSE',
      message: 'part "stream" failed to close: stream cannot close',
    });
    expect(log.slice(3)).toEqual(['close api', 'close stream', 'close db']);
    expect(events).toEqual([
      'started db',
      'started stream',
      'started api',
      'closed api',
      'close-failed stream',
      'closed db',
    ]);
  });

  it('a close during start waits for the part being started, then closes what was started', async () => {
    const log: string[] = [];
    const system = new System({ parts: [api], context: { log } });
    const starting = system.start();
    const closing = system.close();
    await Promise.all([starting, closing]);
    // nothing after the first part was started, and all of it closed
    expect(log).toEqual(['start db', 'close db']);
    expect(system.state).toBe('closed');
  });

  it('uses provided instances without building or closing them', async () => {
    const log: string[] = [];
    const own = new Thing('my-db', log);
    const system = new System({ parts: [stream], context: { log }, provided: [[db, own]] });
    await system.start();
    expect(system.get(stream).db).toBe(own);
    expect(own.started).toBe(true);
    await system.close();
    expect(own.closed).toBe(false);
    expect(log).toEqual(['start my-db', 'start stream', 'close stream']);
  });

  it('replaces a definition everywhere it is used: parts requiring it get the replacement', async () => {
    const log: string[] = [];
    const otherDb = definePart({ name: 'db', create: (_n, ctx: Ctx) => thing('db2', ctx) });
    const system = new System({ parts: [api], context: { log }, replace: [[db, otherDb]] });
    expect(system.names).toEqual(['db', 'stream', 'api']);
    await system.start();
    expect(system.get(api).db.name).toBe('db2');
    expect(system.get(stream).db).toBe(system.get(api).db);
    await system.close();
  });

  it('takes lifecycle hooks or withLifecycle() for instances whose methods are named otherwise', async () => {
    const calls: string[] = [];
    const server = definePart({
      name: 'server',
      create: () => ({ listen: async () => void calls.push('listen'), stop: async () => void calls.push('stop') }),
      start: (s) => s.listen(),
      close: (s) => s.stop(),
      health: () => ({ ok: false, why: 'testing' }),
    });
    const metrics = definePart({
      name: 'metrics',
      requires: { server },
      create: () => withLifecycle({ counter: 1 }, { close: () => void calls.push('unregister') }),
    });
    const system = new System({ parts: [metrics], context: {} });
    await system.start();
    expect(system.get(metrics).counter).toBe(1);
    expect(system.health()).toMatchObject({
      ok: false,
      parts: { server: { ok: false, why: 'testing' }, metrics: { ok: true } },
    });
    await system[Symbol.asyncDispose]();
    expect(calls).toEqual(['listen', 'unregister', 'stop']);
    expect(() => system.get(definePart({ name: 'other', create: () => 1 }))).toThrow(
      expect.objectContaining({ code: 'EL_ERR_PART_MISSING' }),
    );
  });

  it('keepAlive holds the process open while started and lets it exit after close', () => {
    // a child whose only part uses an unref'd timer: without keepAlive it would exit at once (code 13 in an ESM
    // main with a pending top-level await); with it, it runs until closed
    const script = `
      import { definePart, System } from ${JSON.stringify(join(import.meta.dirname, '../../lib/parts.ts'))};
      const poller = definePart({ name: 'poller', create: () => {
        let t; return { start() { t = setInterval(() => {}, 10); t.unref(); }, close() { clearInterval(t); } };
      } });
      const system = new System({ parts: [poller], context: {}, keepAlive: true });
      await system.start();
      setTimeout(async () => { await system.close(); console.log('closed'); }, 300).unref();
      await new Promise(() => {});
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.stdout.trim()).toBe('closed');
  });
});
