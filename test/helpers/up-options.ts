/**
 * `edgeloop up` started in-process by a test: a real-agent fleet on the embedded cloud, every port free, no random
 * faults, its state in a temp directory that is removed when the test ends. The test gives what it is about.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { UpOptions } from '../../cli/up/types.ts';

/** Options of an in-process `up` whose data directory is `<dir>/state`, `dir` a fresh temp directory. */
export function testUpOptions(
  prefix: string,
  o: Pick<UpOptions, 'devices' | 'rate' | 'seed'> & Partial<UpOptions>,
): { dir: string; options: UpOptions } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    options: {
      mode: 'agent',
      port: 0,
      registryPort: 0,
      rolloutPort: 0,
      host: '127.0.0.1',
      dataDir: join(dir, 'state'),
      faultEverySec: 0,
      fleet: true,
      ...o,
    },
  };
}
