/**
 * Agent mode with the agents in child processes (`agentsPerProcess` each): the FleetDriver the agent-kill fault
 * needs. Killing is `kill -9` of whole child processes (every agent in them), restarting spawns the same slice
 * on the same data directories; the agents reopen their outboxes, keep their seqs and send what they had not.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FleetDriver, FleetFactoryContext, FleetSnapshot } from '../fleet-driver.ts';
import type { AgentHostInit } from './agent-host-child.ts';

/** running from the compiled dist/ tree (plain .js, no loader) or from the TypeScript sources (tsx loader) */
const COMPILED = import.meta.filename.endsWith('.js');
const CHILD = join(import.meta.dirname, COMPILED ? 'agent-host-child.js' : 'agent-host-child.ts');
/** tsx's ESM loader as an absolute URL: `--import tsx` would resolve from the user's working directory */
const LOADER_ARGS = COMPILED ? [] : ['--import', import.meta.resolve('tsx')];

interface Slot {
  indices: number[];
  child: ChildProcess | undefined;
  snapshot: FleetSnapshot | undefined;
  alive: boolean;
  kills: number;
}

export class ChildAgentFleet implements FleetDriver {
  readonly #ctx: FleetFactoryContext & { modelsDir?: string | undefined; startMs: number };
  readonly #slots: Slot[] = [];
  readonly #expected = new Map<string, number>();
  readonly #root: string;
  #paused = false;
  #closed = false;
  /** counters of children killed before: their last snapshot, so totals do not go backwards */
  #carried = { messagesPublished: 0, readingsPublished: 0 };

  constructor(ctx: FleetFactoryContext & { modelsDir?: string | undefined; startMs: number }, perProcess: number) {
    this.#ctx = ctx;
    this.#root = mkdtempSync(join(ctx.options.dataDir ?? tmpdir(), 'edgeloop-agents-'));
    const n = ctx.devices.length;
    for (let i = 0; i < n; i += perProcess) {
      this.#slots.push({
        indices: Array.from({ length: Math.min(perProcess, n - i) }, (_, k) => i + k),
        child: undefined,
        snapshot: undefined,
        alive: false,
        kills: 0,
      });
    }
  }

  #spawn(slot: Slot): Promise<void> {
    const child = spawn(process.execPath, [...LOADER_ARGS, CHILD], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    slot.child = child;
    const o = this.#ctx;
    const creds: AgentHostInit['credentials'] = {};
    for (const i of slot.indices) {
      const id = o.devices[i]!.id;
      const c = o.credentials?.(id);
      if (c) creds[id] = c;
    }
    const dataDir = join(this.#root, `host-${this.#slots.indexOf(slot)}`);
    mkdirSync(dataDir, { recursive: true });
    return new Promise<void>((resolve, reject) => {
      child.on(
        'message',
        (m: { type: string; snapshot?: FleetSnapshot; expected?: Array<[string, number]>; message?: string }) => {
          if (m.type === 'started') {
            slot.alive = true;
            resolve();
          } else if (m.type === 'stats') {
            slot.snapshot = m.snapshot;
            for (const [id, seq] of m.expected ?? [])
              if (seq > (this.#expected.get(id) ?? 0)) this.#expected.set(id, seq);
          } else if (m.type === 'error') reject(new EdgeloopError('EL_ERR_SIM_FAULT', `agent host: ${m.message}`));
        },
      );
      child.once('exit', (code, signal) => {
        slot.alive = false;
        if (!slot.snapshot)
          reject(new EdgeloopError('EL_ERR_SIM_FAULT', `agent host exited (${signal ?? code}) before starting`));
      });
      child.send({
        type: 'init',
        options: o.options,
        startMs: o.startMs,
        indices: slot.indices,
        endpoint: o.endpointFor(slot.indices[0]!),
        credentials: creds,
        dataDir,
        modelsDir: o.modelsDir,
        paused: this.#paused,
      } satisfies AgentHostInit);
    });
  }

  async start(): Promise<void> {
    await Promise.all(this.#slots.map((s) => this.#spawn(s)));
  }

  snapshot(): FleetSnapshot {
    const out: FleetSnapshot = {
      devices: this.#ctx.devices.length,
      connections: this.#ctx.devices.length,
      connectedDevices: 0,
      messagesPublished: this.#carried.messagesPublished,
      messagesAcked: 0,
      readingsPublished: this.#carried.readingsPublished,
      backlog: 0,
      droppedAtDevice: 0,
      connects: 0,
      connectFailures: 0,
    };
    for (const s of this.#slots) {
      const x = s.snapshot;
      if (!x) continue;
      if (s.alive) out.connectedDevices += x.connectedDevices;
      out.messagesPublished += x.messagesPublished;
      out.readingsPublished += x.readingsPublished;
      out.backlog += x.backlog;
      out.droppedAtDevice += x.droppedAtDevice;
      out.connects += x.connects;
    }
    out.messagesAcked = out.messagesPublished;
    return out;
  }

  expected(): Map<string, number> {
    const m = new Map<string, number>();
    for (const d of this.#ctx.devices) m.set(d.id, this.#expected.get(d.id) ?? 0);
    return m;
  }

  #broadcast(type: 'pause' | 'resume'): void {
    for (const s of this.#slots) if (s.alive) s.child?.send({ type });
  }
  pause(): void {
    this.#paused = true;
    this.#broadcast('pause');
  }
  resume(): void {
    this.#paused = false;
    this.#broadcast('resume');
  }
  /** children report every 100 ms and commit their intake within a few ms: wait for two reports */
  async quiesce(): Promise<void> {
    await new Promise((r) => setTimeout(r, 300));
  }
  dropAll(): void {
    throw new EdgeloopError('EL_ERR_SIM_FAULT', 'connect-storm is not supported in agent mode; use light mode');
  }

  /** kill -9 enough whole agent hosts to cover `share` of the agents; restart them after downMs. */
  async killAgents(share: number, downMs: number): Promise<number> {
    const want = Math.max(1, Math.round(share * this.#ctx.devices.length));
    const victims: Slot[] = [];
    let covered = 0;
    for (const s of this.#slots) {
      if (covered >= want) break;
      if (!s.alive) continue;
      victims.push(s);
      covered += s.indices.length;
    }
    await Promise.all(
      victims.map(async (s) => {
        const exited = new Promise<void>((r) => s.child!.once('exit', () => r()));
        s.child!.kill('SIGKILL');
        await exited;
        s.kills++;
        this.#carried.messagesPublished += s.snapshot?.messagesPublished ?? 0;
        this.#carried.readingsPublished += s.snapshot?.readingsPublished ?? 0;
        s.snapshot = undefined;
      }),
    );
    await new Promise((r) => setTimeout(r, downMs));
    if (this.#closed) return covered;
    await Promise.all(victims.map((s) => this.#spawn(s)));
    return covered;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      this.#slots.map(async (s) => {
        const c = s.child;
        if (!c || !s.alive) return;
        const exited = new Promise<void>((r) => c.once('exit', () => r()));
        const last = new Promise<void>((r) => {
          c.on('message', (m: { type: string }) => m.type === 'stats' && r());
          setTimeout(r, 5000).unref();
        });
        c.send({ type: 'close' });
        await last;
        const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }),
    );
    rmSync(this.#root, { recursive: true, force: true });
  }
}
