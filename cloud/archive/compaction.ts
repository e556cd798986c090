/**
 * Which small files of the raw archive to merge (pure logic, no I/O).
 *
 * A partition (one table, one UTC hour) is compacted once its hour ended at least `settleMs` ago: late rows
 * still land in it afterwards as new small files and are merged at the next pass. Files under `targetBytes` are
 * merged in name order (name = write time) into groups whose summed size stays within `targetBytes`; a group of
 * one file is left alone. Sizes are Parquet bytes: a merged file is about the sum of its inputs (same codec).
 */
export interface PartitionFiles {
  /** `<table>/date=…/hour=…` */
  partition: string;
  /** start of the partition's hour, ms */
  hourStart: number;
  files: { path: string; bytes: number }[];
}

export interface CompactionGroup {
  partition: string;
  /** files to merge into one, relative to the archive root, in name order */
  files: string[];
  bytes: number;
}

export function planCompaction(
  partitions: readonly PartitionFiles[],
  o: { now: number; settleMs: number; targetBytes: number },
): CompactionGroup[] {
  const out: CompactionGroup[] = [];
  for (const p of partitions) {
    if (p.hourStart + 3_600_000 + o.settleMs > o.now) continue;
    const small = p.files
      .filter((f) => f.bytes < o.targetBytes)
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    let group: CompactionGroup = { partition: p.partition, files: [], bytes: 0 };
    const close = (): void => {
      if (group.files.length > 1) out.push(group);
      group = { partition: p.partition, files: [], bytes: 0 };
    };
    for (const f of small) {
      if (group.files.length > 0 && group.bytes + f.bytes > o.targetBytes) close();
      group.files.push(f.path);
      group.bytes += f.bytes;
    }
    close();
  }
  return out;
}
