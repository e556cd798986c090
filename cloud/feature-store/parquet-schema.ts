/**
 * The schema of one offline feature group (pure logic, no I/O): which Parquet column each feature is written to,
 * with which type, and the schema version.
 *
 * Every file of a group has exactly the group's current schema, so readers that take the first file's schema
 * (pyarrow.dataset, DuckDB without union_by_name, Athena) see every column. A feature never seen before adds a
 * nullable column and bumps the version; a numeric feature that receives a string becomes VARCHAR and bumps it
 * too. The store then rewrites the group's older files to the new schema (ParquetOfflineStore).
 *
 * Column names are SQL-safe without quoting: lower case `[a-z_][a-z0-9_]*`, '-' and other characters become '_',
 * a leading digit gets an `f_` prefix, a reserved SQL keyword gets a trailing `_`, and a name already taken
 * (`temp-c` and `temp_c`, or `Temp` and `temp`) gets `_2`, `_3`, ... The mapping is recorded in the schema and
 * never changes for a feature once assigned.
 */
export type FeatureColumnType = 'DOUBLE' | 'VARCHAR';

export interface FeatureColumn {
  /** the Parquet column name */
  name: string;
  /** the feature name in the records */
  feature: string;
  type: FeatureColumnType;
}

export interface GroupSchema {
  /** 1 for the first schema of a group, +1 at every change */
  version: number;
  /** feature columns, in the order they were added (after the fixed columns) */
  columns: FeatureColumn[];
}

/** Columns every file starts with; `date` is the Hive partition column readers add. */
export const FIXED_COLUMNS = [
  { name: 'entity_id', type: 'VARCHAR' },
  { name: 'event_time', type: 'TIMESTAMPTZ' },
  { name: 'write_time', type: 'TIMESTAMPTZ' },
] as const;
const TAKEN_BY_LAYOUT = ['entity_id', 'event_time', 'write_time', 'date'];

export const EMPTY_SCHEMA: GroupSchema = { version: 0, columns: [] };

/** The SQL-safe column name for `feature`, avoiding `taken` names and `keywords`. */
export function columnName(feature: string, taken: ReadonlySet<string>, keywords: ReadonlySet<string>): string {
  let base = feature.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (/^[0-9]/.test(base)) base = `f_${base}`;
  if (keywords.has(base)) base = `${base}_`;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  return name;
}

/**
 * The schema that holds `schema` plus the features of `rows`: the same object when nothing changes, else a new
 * version with added columns (in first-seen order) and widened types.
 */
export function evolveSchema(
  schema: GroupSchema,
  rows: Iterable<Record<string, number | string>>,
  keywords: ReadonlySet<string>,
): GroupSchema {
  const byFeature = new Map(schema.columns.map((c) => [c.feature, c]));
  const added: FeatureColumn[] = [];
  const widened = new Set<string>();
  const taken = new Set([...TAKEN_BY_LAYOUT, ...schema.columns.map((c) => c.name)]);
  for (const features of rows) {
    for (const [feature, v] of Object.entries(features)) {
      const type: FeatureColumnType = typeof v === 'string' ? 'VARCHAR' : 'DOUBLE';
      const col = byFeature.get(feature);
      if (col === undefined) {
        const c: FeatureColumn = { name: columnName(feature, taken, keywords), feature, type };
        taken.add(c.name);
        byFeature.set(feature, c);
        added.push(c);
      } else if (col.type === 'DOUBLE' && type === 'VARCHAR') {
        if (added.includes(col)) col.type = 'VARCHAR';
        else widened.add(feature);
      }
    }
  }
  if (added.length === 0 && widened.size === 0) return schema;
  return {
    version: schema.version + 1,
    columns: [
      ...schema.columns.map((c) => (widened.has(c.feature) ? { ...c, type: 'VARCHAR' as const } : c)),
      ...added,
    ],
  };
}

/** Parse a stored schema, or throw naming what is wrong. */
export function parseSchema(v: unknown, where: string): GroupSchema {
  const s = v as GroupSchema;
  const ok =
    typeof s === 'object' &&
    s !== null &&
    Number.isInteger(s.version) &&
    s.version >= 0 &&
    Array.isArray(s.columns) &&
    s.columns.every(
      (c) =>
        typeof c?.name === 'string' &&
        /^[a-z_][a-z0-9_]*$/.test(c.name) &&
        typeof c.feature === 'string' &&
        (c.type === 'DOUBLE' || c.type === 'VARCHAR'),
    );
  if (!ok)
    throw new Error(`${where}: "schema" must be { version, columns: [{ name, feature, type: DOUBLE|VARCHAR }] }`);
  return { version: s.version, columns: s.columns.map((c) => ({ name: c.name, feature: c.feature, type: c.type })) };
}
