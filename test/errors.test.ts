/**
 * Every error code of every part is unique, has the EL_ERR_ shape and is documented in a docs page.
 * Tables are `export const <PART>_ERROR_CODES` in any `errors.ts` of the source tree.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const SRC = ['protocol', 'agent', 'cloud', 'models', 'simulator', 'cli', 'lib', 'transport', 'deploy'];

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name === 'errors.ts') out.push(p);
  }
  return out;
}

describe('error codes', async () => {
  const files = SRC.flatMap((d) => {
    try {
      return walk(join(root, d));
    } catch {
      return [];
    }
  });
  const codes = new Map<string, string>();
  const dupes: string[] = [];
  const tables: string[] = [];
  for (const f of files) {
    const mod = (await import(f)) as Record<string, unknown>;
    for (const [name, table] of Object.entries(mod)) {
      if (!name.endsWith('_ERROR_CODES')) continue;
      tables.push(name);
      for (const code of Object.keys(table as object)) {
        if (codes.has(code)) dupes.push(`${code} in ${codes.get(code)} and ${relative(root, f)}`);
        codes.set(code, relative(root, f));
      }
    }
  }
  const docs = readdirSync(join(root, 'docs'))
    .filter((n) => n.endsWith('.md'))
    .map((n) => readFileSync(join(root, 'docs', n), 'utf8'))
    .join('\n');

  it('are unique and shaped EL_ERR_*', () => {
    expect(dupes).toEqual([]);
    expect(codes.size).toBeGreaterThan(10);
    for (const code of codes.keys()) expect(code).toMatch(/^EL_ERR_[A-Z0-9_]+$/);
  });
  it('every code the source names is in a table (a thrown or answered code is never a loose string)', () => {
    const sources: string[] = [];
    const collect = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) collect(p);
        else if (/\.(ts|mts|mjs|js)$/.test(name)) sources.push(p);
      }
    };
    for (const d of SRC) collect(join(root, d));
    const loose = new Set<string>();
    for (const f of sources) {
      for (const m of readFileSync(f, 'utf8').matchAll(/['"`](EL_ERR_[A-Z0-9_]+)['"`]/g)) {
        if (!codes.has(m[1]!)) loose.add(`${m[1]} (${relative(root, f)})`);
      }
    }
    expect([...loose]).toEqual([]);
  });
  it('every table is merged into the ErrorCode type (cli/error-codes.ts), so tsc refuses an unregistered code', () => {
    const registry = readFileSync(join(root, 'cli', 'error-codes.ts'), 'utf8');
    const unlisted = tables.filter((t) => t !== 'PROTOCOL_ERROR_CODES' && !registry.includes(`Codes<typeof ${t}>`));
    expect(unlisted, 'add these tables to cli/error-codes.ts').toEqual([]);
  });
  it('are all documented under docs/', () => {
    const missing = [...codes.keys()].filter((c) => !docs.includes(c));
    expect(missing).toEqual([]);
  });
});
