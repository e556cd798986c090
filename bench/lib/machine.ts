/** What every benchmark prints first: the machine and the code it ran. */
import { execSync } from 'node:child_process';
import { cpus, totalmem, loadavg } from 'node:os';

export function machineLine(): string {
  let ref = 'unknown';
  try {
    ref = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty = execSync('git status --porcelain', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    if (dirty) ref += '+dirty';
  } catch {
    /* not a git checkout */
  }
  const c = cpus();
  return `machine: ${c.length} x ${c[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${process.platform}/${process.arch}, load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}, git ${ref}`;
}
