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

export function figureLine(f: BenchFigure): string {
  const raw =
    f.raw === undefined
      ? ''
      : `; raw limit ${formatNumber(f.raw)} ${f.rawUnit ?? f.unit} (ratio ${ratioText(f) || 'n/a'})`;
  return `${f.label}: ${formatNumber(f.value)} ${f.unit}${raw}`;
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
