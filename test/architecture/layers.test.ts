import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { readImportGraph } from './import-graph.ts';
import type { ImportEdge } from './import-graph.ts';
import { LAYERS, formatCycle, formatViolation, importCycles, layerViolations, rulesTable } from './layers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const edge = (from: string, to: string, typeOnly = false): ImportEdge => ({ from, to, specifier: to, typeOnly });

describe('the repository import graph', () => {
  const graph = readImportGraph(root, LAYERS);

  it('reads every source folder, type-only and dynamic imports included', () => {
    for (const f of [
      'protocol/topics.ts',
      'agent/create-agent.ts',
      'cloud/recommend/response-log-worker.mjs',
      'scripts/build.mjs',
      'cli/main.ts',
    ]) {
      expect(graph.files).toContain(f);
    }
    // a dynamic import() and a type-only import are edges like the others
    expect(graph.edges).toContainEqual(
      expect.objectContaining({ from: 'cli/main.ts', to: 'cli/commands/up.ts', typeOnly: false }),
    );
    expect(graph.edges.some((e) => e.typeOnly)).toBe(true);
    expect(graph.unresolved.map((e) => `${e.from}: ${e.specifier}`)).toEqual([]);
  });

  it('has no edge that a layer rule forbids', () => {
    const violations = layerViolations(graph.edges).map(formatViolation);
    expect(violations, `forbidden imports:\n${violations.join('\n')}`).toEqual([]);
  });

  it('has no import cycle, type-only imports included', () => {
    const cycles = importCycles(graph.files, graph.edges).map((c) => formatCycle(c, graph.edges));
    expect(cycles, `import cycles:\n${cycles.join('\n')}`).toEqual([]);
  });

  it('docs/architecture.md prints the rules the test enforces', () => {
    expect(readFileSync(path.join(root, 'docs/architecture.md'), 'utf8')).toContain(rulesTable());
  });
});

describe('readImportGraph', () => {
  it('records every import form TypeScript knows, type-only ones marked, in .ts and .mjs files', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'el-graph-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const files: Record<string, string> = {
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          allowImportingTsExtensions: true,
          noEmit: true,
          strict: true,
        },
      }),
      'a/types.ts': 'export interface T { x: number }\nexport const v = 1;\n',
      'a/value.ts': "import { v } from './types.ts';\nexport const w = v;\n",
      'a/type-import.ts': "import type { T } from './types.ts';\nexport const t: T = { x: 1 };\n",
      'a/inline-type.ts': "export const t: import('./types.ts').T = { x: 1 };\n",
      'a/reexport.ts': "export * from './value.ts';\nexport type { T } from './types.ts';\n",
      'a/dynamic.ts': "export const load = () => import('./value.ts');\n",
      'b/worker.mjs': "import { w } from '../a/value.ts';\nexport { w };\n",
      'b/pkg.ts': "import { join } from 'node:path';\nexport const j = join;\n",
      'b/broken.ts': "import { nope } from './missing.ts';\nexport const n = nope;\n",
    };
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      writeFileSync(path.join(dir, f), text);
    }
    const g = readImportGraph(dir, ['a', 'b']);
    expect(g.files).toEqual([
      'a/dynamic.ts',
      'a/inline-type.ts',
      'a/reexport.ts',
      'a/type-import.ts',
      'a/types.ts',
      'a/value.ts',
      'b/broken.ts',
      'b/pkg.ts',
      'b/worker.mjs',
    ]);
    const show = (e: ImportEdge) => `${e.from} -> ${e.to}${e.typeOnly ? ' [type]' : ''}`;
    expect(g.edges.map(show).sort()).toEqual([
      'a/dynamic.ts -> a/value.ts',
      'a/inline-type.ts -> a/types.ts [type]',
      'a/reexport.ts -> a/types.ts [type]',
      'a/reexport.ts -> a/value.ts',
      'a/type-import.ts -> a/types.ts [type]',
      'a/value.ts -> a/types.ts',
      'b/worker.mjs -> a/value.ts',
    ]);
    expect(g.unresolved.map((e) => `${e.from}: ${e.specifier}`)).toEqual(['b/broken.ts: ./missing.ts']);
  });
});

describe('the layer checks', () => {
  it('names a forbidden edge, its kind and the rule it breaks', () => {
    const v = layerViolations([
      edge('cloud/rollout/x.ts', 'agent/transport/transport.ts', true),
      edge('models/nab/commands.ts', 'cli/main.ts'),
    ]);
    expect(v.map(formatViolation)).toEqual([
      'cloud/rollout/x.ts → agent/transport/transport.ts [type] (cloud may import protocol/, lib/, transport/, models/runtime/, models/manifest/, models/recommender/ai4i-data.ts, models/recommender/features.ts)',
      'models/nab/commands.ts → cli/main.ts (models may import protocol/, lib/)',
    ]);
  });

  it('allows a layer itself, its listed prefixes and exact files, and anything from cli/ and test/', () => {
    expect(
      layerViolations([
        edge('agent/a.ts', 'agent/b/c.ts'),
        edge('agent/a.ts', 'models/runtime/model-runner.ts'),
        edge('cloud/a.ts', 'models/recommender/features.ts'),
        edge('cli/main.ts', 'simulator/run-simulation.ts'),
        edge('test/x.test.ts', 'cloud/create-cloud.ts'),
      ]),
    ).toEqual([]);
    expect(
      layerViolations([
        edge('cloud/a.ts', 'models/recommender/commands.ts'),
        edge('protocol/a.ts', 'lib/zod-issues.ts'),
      ]).map((v) => v.edge.to),
    ).toEqual(['models/recommender/commands.ts', 'lib/zod-issues.ts']);
  });

  it('rejects a folder that is no layer', () => {
    expect(layerViolations([edge('tools/a.ts', 'protocol/topics.ts')]).map((v) => v.rule)).toEqual([
      'tools/ is no layer (add it to LAYER_RULES)',
    ]);
  });

  it('finds cycles (type-only edges count), self-imports, and nothing in a DAG', () => {
    const files = ['a.ts', 'b.ts', 'c.ts', 'd.ts', 'e.ts'];
    const cyc = importCycles(files, [
      edge('a.ts', 'b.ts'),
      edge('b.ts', 'c.ts', true),
      edge('c.ts', 'a.ts'),
      edge('c.ts', 'd.ts'),
      edge('e.ts', 'e.ts'),
    ]);
    expect(cyc).toEqual(expect.arrayContaining([['a.ts', 'b.ts', 'c.ts'], ['e.ts']]));
    expect(cyc).toHaveLength(2);
    expect(
      importCycles(files, [edge('a.ts', 'b.ts'), edge('a.ts', 'c.ts'), edge('b.ts', 'd.ts'), edge('c.ts', 'd.ts')]),
    ).toEqual([]);
    expect(formatCycle(['a.ts', 'b.ts'], [edge('a.ts', 'b.ts', true), edge('b.ts', 'a.ts')])).toBe(
      'cycle of 2 files: a.ts → b.ts [type]; b.ts → a.ts',
    );
  });
});
