/**
 * The layers of DESIGN.md as data, and the two checks over an import graph: every edge goes from a layer to
 * something that layer may use, and no files import each other in a circle (type-only imports included: a
 * type cycle still ties the files into one unit that cannot be built, read or moved apart).
 * docs/architecture.md prints LAYER_RULES through `rulesTable()`; test/architecture/layers.test.ts keeps the two equal.
 */
import type { ImportEdge } from './import-graph.ts';

export interface LayerRule {
  /** top-level folder */
  layer: string;
  /** path prefixes this layer may import besides itself: a folder ends in '/', a file is named whole; '*' = anything */
  may: readonly string[];
  /** why, in one line (printed in docs/architecture.md) */
  why: string;
}

export const LAYER_RULES: readonly LayerRule[] = Object.freeze([
  { layer: 'protocol', may: [], why: 'the wire contract: topics, messages, manifest schema, error base; pure' },
  { layer: 'lib', may: ['protocol/'], why: 'small shared helpers (clock, retry, logger, SQLite, part kernel)' },
  {
    layer: 'transport',
    may: ['protocol/', 'lib/'],
    why: 'the MQTT transports (mqtt.js, AWS IoT SDK v2) that agent and cloud both use',
  },
  {
    layer: 'models',
    may: ['protocol/', 'lib/'],
    why: 'training, ONNX export, manifests and signing, runtime, evaluation',
  },
  {
    layer: 'agent',
    may: ['protocol/', 'lib/', 'transport/', 'models/runtime/', 'models/manifest/'],
    why: 'runs models (runtime) and verifies their manifests; never trains',
  },
  {
    layer: 'cloud',
    may: [
      'protocol/',
      'lib/',
      'transport/',
      'models/runtime/',
      'models/manifest/',
      'models/recommender/ai4i-data.ts',
      'models/recommender/features.ts',
    ],
    why: "serves models (runtime, manifest); the AI4I pipeline evaluation reads the recommender's data and feature definitions",
  },
  {
    layer: 'cloud/retrain',
    may: [
      'protocol/',
      'lib/',
      'transport/',
      'models/runtime/',
      'models/manifest/',
      'models/anomaly/',
      'models/onnx/',
      'models/training/',
    ],
    why: "the cloud's retraining job trains, exports and signs with the models toolchain (in a child process)",
  },
  {
    layer: 'simulator',
    may: [
      'protocol/',
      'lib/',
      'transport/',
      'agent/',
      'cloud/feature-store/feature-store.ts',
      'cloud/stream/stream.ts',
      'cloud/processor/decode-record.ts',
      'models/rul/cmapss-data.ts',
    ],
    why: "runs real agents (agent mode); its pipeline probes read the cloud's stream and feature store through their interfaces; the C-MAPSS replay parses files with the RUL model's pure reader",
  },
  {
    layer: 'deploy',
    may: [
      'protocol/',
      'cloud/plan/',
      'cloud/processor/feature-aggregator.ts',
      'cloud/archive/archive-tables.ts',
      'cloud/batch/athena.ts',
      'simulator/signal-model.ts',
    ],
    why: "the AWS CDK app: the topic ACL from the wire contract, shards from the planner, feature and Glue schemas from the processor's, the archive's and the warehouse's own definitions (the at-scale tables of the Athena DDL)",
  },
  { layer: 'cli', may: ['*'], why: 'the `edgeloop` command: wires parts together' },
  { layer: 'bin', may: ['*'], why: 'entry points' },
  { layer: 'test', may: ['*'], why: 'tests' },
  { layer: 'bench', may: ['*'], why: 'benchmarks' },
  { layer: 'scripts', may: ['*'], why: 'build, pack and docs scripts' },
] satisfies LayerRule[]);

/** the top-level folders; a rule for a subfolder (`cloud/retrain`) refines its folder's rule for the files in it */
export const LAYERS: readonly string[] = LAYER_RULES.filter((r) => !r.layer.includes('/')).map((r) => r.layer);

export interface Violation {
  edge: ImportEdge;
  /** the rule the edge breaks, as printed: "cloud may import protocol/, lib/, …" */
  rule: string;
}

const layerOf = (file: string) => file.split('/')[0] ?? '';

function ruleText(r: LayerRule): string {
  return r.may.length === 0 ? `${r.layer} imports nothing but itself` : `${r.layer} may import ${r.may.join(', ')}`;
}

/** Edges that leave their layer for something it may not use; a file outside every layer is a violation too. */
export function layerViolations(edges: readonly ImportEdge[], rules: readonly LayerRule[] = LAYER_RULES): Violation[] {
  const byLayer = new Map(rules.map((r) => [r.layer, r]));
  // subfolder rules, most specific first
  const sub = rules.filter((r) => r.layer.includes('/')).sort((a, b) => b.layer.length - a.layer.length);
  const out: Violation[] = [];
  for (const edge of edges) {
    const from = layerOf(edge.from);
    const rule = sub.find((r) => edge.from.startsWith(`${r.layer}/`)) ?? byLayer.get(from);
    if (!rule) {
      out.push({ edge, rule: `${from}/ is no layer (add it to LAYER_RULES)` });
      continue;
    }
    if (layerOf(edge.to) === from || rule.may.includes('*')) continue;
    if (!rule.may.some((p) => (p.endsWith('/') ? edge.to.startsWith(p) : edge.to === p)))
      out.push({ edge, rule: ruleText(rule) });
  }
  return out;
}

/** `from → to (rule)`, with "type" marking a type-only import. */
export function formatViolation(v: Violation): string {
  return `${v.edge.from} → ${v.edge.to}${v.edge.typeOnly ? ' [type]' : ''} (${v.rule})`;
}

/** Strongly connected components of more than one file, or a file importing itself (Tarjan, iterative). */
export function importCycles(files: readonly string[], edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, []);
    if (!next.has(e.to)) next.set(e.to, []);
    next.get(e.from)!.push(e.to);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let counter = 0;
  for (const start of next.keys()) {
    if (index.has(start)) continue;
    // explicit DFS stack of [node, position in its successor list]
    const work: Array<[string, number]> = [[start, 0]];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const [v, i] = top;
      const succ = next.get(v)!;
      if (i < succ.length) {
        top[1]++;
        const w = succ[i]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent[0], Math.min(low.get(parent[0])!, low.get(v)!));
      if (low.get(v) === index.get(v)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== v);
        if (scc.length > 1 || succ.includes(v)) cycles.push(scc.sort());
      }
    }
  }
  return cycles;
}

/** One cycle as its files plus the edges that close it, e.g. "cli/main.ts ⇄ cli/commands/up.ts [type]". */
export function formatCycle(scc: readonly string[], edges: readonly ImportEdge[]): string {
  const members = new Set(scc);
  const inner = edges.filter((e) => members.has(e.from) && members.has(e.to));
  return `cycle of ${scc.length} files: ${inner.map((e) => `${e.from} → ${e.to}${e.typeOnly ? ' [type]' : ''}`).join('; ')}`;
}

/** The rules as the markdown table docs/architecture.md shows. */
export function rulesTable(rules: readonly LayerRule[] = LAYER_RULES): string {
  const row = (r: LayerRule) =>
    `| \`${r.layer}/\` | ${r.may.includes('*') ? 'anything' : r.may.length === 0 ? 'nothing' : r.may.map((p) => `\`${p}\``).join(', ')} | ${r.why} |`;
  return ['| layer | may import (besides itself) | why |', '|---|---|---|', ...rules.map(row)].join('\n');
}
