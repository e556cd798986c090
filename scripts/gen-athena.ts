/**
 * Writes deploy/athena/: the Athena / Glue DDL of the raw archive and the published warehouse tables, and their
 * Glue column lists, from cloud/batch/athena.ts (the same schema definitions DuckDB writes from).
 *   npm run gen:athena                                             the committed files (location s3://${BUCKET}/edgeloop)
 *   npx tsx scripts/gen-athena.ts --location s3://my-bucket/edgeloop --out /tmp/ddl   for one deployment
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { athenaFiles } from '../cloud/batch/athena.ts';

const { values } = parseArgs({
  options: { location: { type: 'string' }, database: { type: 'string' }, out: { type: 'string' } },
});
const out = values.out ?? join(import.meta.dirname, '..', 'deploy', 'athena');
mkdirSync(out, { recursive: true });
const files = athenaFiles({
  location: values.location ?? 's3://${BUCKET}/edgeloop',
  ...(values.database ? { database: values.database } : {}),
});
for (const f of readdirSync(out))
  if ((f.endsWith('.sql') || f === 'glue-columns.json') && !(f in files)) rmSync(join(out, f));
for (const [name, text] of Object.entries(files)) writeFileSync(join(out, name), text);
console.log(`wrote ${Object.keys(files).length} files to ${out}`);
