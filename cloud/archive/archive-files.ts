/** The raw archive's part files on disk: `<dir>/<table>/date=…/hour=…/part-….parquet`. */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ARCHIVE_TABLE_NAMES, partitionStart } from './archive-tables.ts';
import type { PartitionFiles } from './compaction.ts';

/** Every hour partition of every table under `dir`, with its part files (name order) and their sizes. */
export async function listPartitions(dir: string): Promise<PartitionFiles[]> {
  const out: PartitionFiles[] = [];
  for (const t of ARCHIVE_TABLE_NAMES) {
    for (const d of await readdir(join(dir, t)).catch(() => [] as string[])) {
      if (!d.startsWith('date=')) continue;
      for (const h of await readdir(join(dir, t, d)).catch(() => [] as string[])) {
        const hourStart = partitionStart(`${d}/${h}`);
        if (hourStart === undefined) continue;
        const files = [];
        for (const f of (await readdir(join(dir, t, d, h))).sort()) {
          if (!f.startsWith('part-') || !f.endsWith('.parquet')) continue;
          const path = `${t}/${d}/${h}/${f}`;
          files.push({ path, bytes: (await stat(join(dir, path))).size });
        }
        out.push({ partition: `${t}/${d}/${h}`, hourStart, files });
      }
    }
  }
  return out;
}
