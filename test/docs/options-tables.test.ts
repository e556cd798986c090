/**
 * The defaults a reference page's options table states are the code's: each row whose field has a `.default()` in
 * the component's schema must state that value (lib/options.ts schemaDefaults), in the page's units (`7 days`,
 * `256 MiB`, `10,000`). The schema is the one source; a changed default fails here until the page says it too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AgentConfigSchema } from '../../agent/config.ts';
import { BackfillTuningSchema } from '../../cloud/batch/backfill-options.ts';
import { BrokerLoginRateLimitSchema } from '../../cloud/broker/broker-options.ts';
import { CloudConfigSchema } from '../../cloud/config.ts';
import { ParquetOfflineStoreOptionsSchema } from '../../cloud/feature-store/parquet-offline-store-options.ts';
import { SageMakerFeatureStoreOptionsSchema } from '../../cloud/feature-store/sagemaker-feature-store.ts';
import { SqliteFeatureStoreOptionsSchema } from '../../cloud/feature-store/sqlite-feature-store.ts';
import { ProcessorOptionsSchema } from '../../cloud/processor/processor-options.ts';
import { RegistryPartConfigSchema } from '../../cloud/registry/registry-part.ts';
import { RolloutSpecSchema, ShadowSpecSchema } from '../../cloud/rollout/rollout-spec.ts';
import { DriftPartConfigSchema } from '../../cloud/drift/drift-part.ts';
import { HttpServerOptionsSchema } from '../../cloud/http/server.ts';
import { MaintenanceConfigSchema } from '../../cloud/maintenance/config.ts';
import { RetrainConfigSchema } from '../../cloud/retrain/retrain-config.ts';
import { RolloutPartConfigSchema } from '../../cloud/rollout/rollout-part.ts';
import { schemaDefaults } from '../../lib/options.ts';
import { KinesisStreamOptionsSchema } from '../../cloud/stream/kinesis-stream-options.ts';
import { LocalStreamOptionsSchema } from '../../cloud/stream/local-stream-options.ts';
import { SimulationOptionsSchema } from '../../simulator/simulation-options.ts';

const DOCS = join(import.meta.dirname, '..', '..', 'docs');

/** the cloud config's sections that docs/cloud.md documents one table each */
const cloud = CloudConfigSchema.shape;
const broker = cloud.broker.unwrap().shape;

/** [page, a text in the table (to find it), schema, rows with a default at least (4 unless given)] */
const TABLES: Array<[string, string, z.ZodType, number?]> = [
  ['agent.md', '`outbox.maxBytes`', AgentConfigSchema],
  ['cloud.md', '`limits.bodyLimit`', HttpServerOptionsSchema],
  ['drift.md', '`policy.minSamples`', DriftPartConfigSchema],
  ['load-testing.md', '`samplesPerMessage`', SimulationOptionsSchema],
  ['retrain.md', '`productionAlias`', RetrainConfigSchema],
  ['rollout.md', '`discoveryMs`', RolloutPartConfigSchema],
  ['predict-maintenance.md', '`padShortHistories`', MaintenanceConfigSchema],
  ['cloud.md', '`drainTimeoutMs`', broker.embedded],
  ['cloud.md', '`sessionExpirySeconds`', broker.external],
  ['cloud.md', '`maxInFlightPuts`', cloud.ingest],
  ['cloud.md', '`local.retentionHours`', cloud.stream],
  ['broker.md', '`maxFailuresPerAddress`', BrokerLoginRateLimitSchema],
  ['streams-and-features.md', '`maxReadBytes`', LocalStreamOptionsSchema],
  ['streams-and-features.md', '`minReadIntervalMs`', KinesisStreamOptionsSchema],
  ['streams-and-features.md', 'per group: `{ ttlMs }`', SqliteFeatureStoreOptionsSchema, 3],
  ['streams-and-features.md', '`maxBufferedRows`', ParquetOfflineStoreOptionsSchema],
  ['streams-and-features.md', '`checkStaleWrites`', SageMakerFeatureStoreOptionsSchema],
  ['streams-and-features.md', '`shardRefreshMs`', ProcessorOptionsSchema],
  ['cloud.md', '`featureStore.offline.flushRows`', CloudConfigSchema],
  ['cloud.md', '`archive.compactSettleMs`', CloudConfigSchema],
  ['cloud.md', '`batch.skewFactor`', CloudConfigSchema],
  ['batch.md', '`skewFactor`', BackfillTuningSchema],
  ['registry.md', '`allowLocalPaths`', RegistryPartConfigSchema],
  ['rollout.md', '`deviceTimeoutMs` (`--device-timeout`)', RolloutSpecSchema],
  ['rollout.md', '`shadow.minDevices`', z.strictObject({ shadow: ShadowSpecSchema })],
];

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
  B: 1,
  KiB: 1024,
  MiB: 1024 * 1024,
  GiB: 1024 ** 3,
  '%': 1,
};

/**
 * A documented default as a value: `true`, `[a, b]`, `7 days`, `10,000`, `5%`, `Infinity`, `[{ sizeMs: 60000 }]`,
 * `holm`; undefined when it is prose.
 */
export function docValue(text: string): unknown {
  const t = text.replaceAll('`', '').trim();
  if (t === 'true' || t === 'false') return t === 'true';
  if (t === 'Infinity') return Infinity;
  if (/^\[?\{/.test(t)) {
    try {
      return JSON.parse(t.replace(/([A-Za-z_]\w*)\s*:/g, '"$1":'));
    } catch {
      return undefined;
    }
  }
  if (t.startsWith('[') && t.endsWith(']')) {
    const inner = t.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(/,\s*/).map((x) => docValue(x));
  }
  const m = /^(-?\d[\d,\s\u00a0\u202f]*(?:\.\d+)?)\s*([A-Za-z]+|%)?$/.exec(t);
  if (m && (m[2] === undefined || m[2] in UNITS)) {
    return Number(m[1]!.replace(/[,\s\u00a0\u202f]/g, '')) * (m[2] ? UNITS[m[2]]! : 1);
  }
  return /^[\w./:@-]+$/.test(t) ? t : undefined;
}

/** The table's rows as [field path, documented default text]. */
function tableRows(page: string, marker: string): Array<[string, string]> {
  const lines = readFileSync(join(DOCS, page), 'utf8').split('\n');
  const at = lines.findIndex((l) => l.startsWith('|') && l.includes(marker));
  expect(at, `${page}: a table row with ${marker}`).toBeGreaterThan(-1);
  let start = at;
  while (start > 0 && lines[start - 1]!.startsWith('|')) start--;
  let end = at;
  while (end + 1 < lines.length && lines[end + 1]!.startsWith('|')) end++;
  const cells = (l: string) =>
    l
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
  const col = cells(lines[start]!).indexOf('default');
  const rows: Array<[string, string]> = [];
  for (const line of lines.slice(start + 2, end + 1)) {
    const c = cells(line);
    const names = c[0]!
      .replace(/\([^)]*\)/g, '')
      .replaceAll('`', '')
      .split(/\s*\/\s*|,\s*/)
      .map((n) => n.trim())
      .filter(Boolean);
    const values = names.length > 1 ? c[col]!.split(/\s+\/\s+|,\s+/) : [c[col]!];
    const parent = names[0]?.includes('.') ? names[0].slice(0, names[0].lastIndexOf('.') + 1) : '';
    names.forEach((n, i) => {
      const v = values.length === 1 ? values[0] : values[i];
      if (v !== undefined) rows.push([n.includes('.') ? n : `${parent}${n}`, v]);
    });
  }
  return rows;
}

/** `./x` and `x` are the same relative path */
const norm = (v: unknown): unknown => (typeof v === 'string' ? v.replace(/^\.\//, '') : v);

describe('options tables in docs/ state the code’s defaults', () => {
  for (const [page, marker, schema, minRows = 4] of TABLES) {
    it(`${page} (${marker})`, () => {
      const defaults = schemaDefaults(schema);
      const rows = tableRows(page, marker).filter(([name]) => name in defaults);
      expect(rows.length, `${page}: rows with a default in the schema`).toBeGreaterThanOrEqual(minRows);
      for (const [name, text] of rows) {
        expect(norm(docValue(text)), `${page}: ${name} is documented as ${text}`).toEqual(norm(defaults[name]));
      }
    });
  }
});
