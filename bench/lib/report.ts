/**
 * The one reporter of every benchmark: each figure is printed with the machine's raw limit measured in the same
 * run and their ratio, after a line naming the machine, its load and the git ref; `write()` saves the result as
 * bench/results/<name>.json (git-ignored: a result belongs to the machine and moment it was measured; the
 * committed record is docs/benchmarks.md, whose tables `npm run bench -- --write-docs` regenerates from these files).
 */
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { machineLine } from './machine.ts';

export interface BenchFigure {
  /** what was measured, as the docs table names it */
  label: string;
  value: number;
  unit: string;
  /** the same quantity for the machine's raw limit in the same run (e.g. a trivial model, bare SQLite) */
  raw?: number | undefined;
  rawUnit?: string | undefined;
  /**
   * the configuration the figure was measured in when a bench measures several (a broker, a memory profile, a
   * concurrency); a figure is keyed by label and configuration together
   */
  config?: string | undefined;
  /** print value and raw with exactly this many decimals and thousands separators (default: formatNumber's short form) */
  decimals?: number | undefined;
  /** print value and raw with at most this many decimals and thousands separators */
  maxDecimals?: number | undefined;
  /** the target the value is held to */
  target?: BenchTarget | undefined;
}

export interface BenchTarget {
  op: '<' | '<=' | '>=' | '>';
  value: number;
}

export interface BenchResult {
  name: string;
  /** ISO time the result was written */
  at: string;
  git: string;
  machine: { cpus: number; cpu: string; memGiB: number; node: string; platform: string };
  /** 1, 5 and 15 minute load averages when the run ended */
  load: [number, number, number];
  figures: BenchFigure[];
}

export const RESULTS_DIR = join(import.meta.dirname, '..', 'results');

function gitRef(): string {
  try {
    const ref = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty = execSync('git status --porcelain', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    return dirty ? `${ref}+dirty` : ref;
  } catch {
    return 'unknown';
  }
}

/** `a / b` to 2 decimals, or '' when there is no raw limit. */
export function ratioText(f: BenchFigure): string {
  return f.raw === undefined || f.raw === 0 ? '' : (f.value / f.raw).toFixed(2);
}

export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(0)}k`;
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** `x` as a figure's value or raw limit is printed: with its decimals when it states them, else formatNumber. */
export function figureNumber(f: BenchFigure, x: number): string {
  if (f.decimals === undefined && f.maxDecimals === undefined) return formatNumber(x);
  return x.toLocaleString('en-US', {
    minimumFractionDigits: f.decimals ?? 0,
    maximumFractionDigits: f.decimals ?? f.maxDecimals,
  });
}

const TARGET_SIGN = { '<': '<', '<=': '≤', '>=': '≥', '>': '>' } as const;

/** Whether the figure's value meets its target (undefined without one). */
export function targetMet(f: BenchFigure): boolean | undefined {
  const t = f.target;
  if (!t) return undefined;
  if (t.op === '<') return f.value < t.value;
  if (t.op === '<=') return f.value <= t.value;
  if (t.op === '>=') return f.value >= t.value;
  return f.value > t.value;
}

/** `target ≥ 200,000: met` (the unit after the number when `unit` is given), or '' without a target. */
export function targetText(f: BenchFigure, unit?: string): string {
  if (!f.target) return '';
  // a target is a round number: the figure's decimals at most
  const n =
    f.decimals === undefined && f.maxDecimals === undefined
      ? formatNumber(f.target.value)
      : f.target.value.toLocaleString('en-US', { maximumFractionDigits: f.decimals ?? f.maxDecimals });
  return `target ${TARGET_SIGN[f.target.op]} ${unit ? `${n} ${unit}` : n}: ${targetMet(f) ? 'met' : 'not met'}`;
}

export function figureLine(f: BenchFigure): string {
  const raw =
    f.raw === undefined
      ? ''
      : `; raw limit ${figureNumber(f, f.raw)} ${f.rawUnit ?? f.unit} (ratio ${ratioText(f) || 'n/a'})`;
  const target = f.target ? ` (${targetText(f, f.unit)})` : '';
  const unit = f.unit ? ` ${f.unit}` : '';
  return `${f.config ? `[${f.config}] ` : ''}${f.label}: ${figureNumber(f, f.value)}${unit}${raw}${target}`;
}

export class BenchReport {
  readonly name: string;
  readonly #figures: BenchFigure[] = [];

  constructor(name: string) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name))
      throw new Error(`bench name must be kebab-case, got ${JSON.stringify(name)}`);
    this.name = name;
    console.log(machineLine());
  }

  /** Record and print one figure. */
  figure(f: BenchFigure): void {
    this.#figures.push(f);
    console.log(`  ${figureLine(f)}`);
  }

  result(): BenchResult {
    const c = cpus();
    const l = loadavg();
    return {
      name: this.name,
      at: new Date().toISOString(),
      git: gitRef(),
      machine: {
        cpus: c.length,
        cpu: c[0]?.model ?? 'cpu',
        memGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        platform: `${process.platform}/${process.arch}`,
      },
      load: [l[0]!, l[1]!, l[2]!],
      figures: [...this.#figures],
    };
  }

  /** Write bench/results/<name>.json (or under `dir`) and return its path. */
  write(dir = RESULTS_DIR): string {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${this.name}.json`);
    const r = this.result();
    writeFileSync(path, `${JSON.stringify(r, null, 2)}\n`);
    console.log(`result: ${path} (load ${r.load.map((x) => x.toFixed(2)).join(' ')})`);
    return path;
  }
}
