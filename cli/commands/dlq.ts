/**
 * `edgeloop dlq list|stats`: inspect the dead-letter store (<dataDir>/dlq.db) read-only; safe while the cloud runs.
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import type { CliContext } from '../main.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { resolveDataDir } from './features.ts';

export const help = `usage: edgeloop dlq list [options]
       edgeloop dlq stats [options]

Inspect messages the ingest refused: malformed, oversized, unauthorized (published under another device's
topic), topic-mismatch (body does not match its topic).

list options:
  --limit N           rows to show, newest first (default 20)
  --reason REASON     malformed | oversized | unauthorized | topic-mismatch
  --device ID         only this device
  --json              one JSON object per line, payload as base64
common options:
  --config FILE       cloud config, for dataDir (or EDGELOOP_CONFIG)
  --data-dir DIR      the cloud's data directory (default: dataDir of the config, ./edgeloop-data)
`;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      limit: { type: 'string', default: '20' },
      reason: { type: 'string' },
      device: { type: 'string' },
      json: { type: 'boolean' },
      config: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const sub = positionals[0];
  if ((sub !== 'list' && sub !== 'stats') || positionals.length > 1) {
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'usage: edgeloop dlq list|stats [options]');
  }
  const { SqliteDlq, DEAD_LETTER_REASONS } = await import('../../cloud/dlq/sqlite-dlq.ts');
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--limit must be a positive integer, got ${values.limit}`);
  if (values.reason !== undefined && !(DEAD_LETTER_REASONS as readonly string[]).includes(values.reason)) {
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `--reason must be one of ${DEAD_LETTER_REASONS.join(', ')}, got ${values.reason}`);
  }
  const { paths } = await resolveDataDir(values, ctx);
  if (!existsSync(paths.dlq)) {
    if (sub === 'stats') ctx.stdout.write(DEAD_LETTER_REASONS.map((r) => `${r}  0`).join('\n') + '\n');
    else if (!values.json) ctx.stdout.write(`no dead letters (${paths.dlq} does not exist)\n`);
    return 0;
  }
  const dlq = await SqliteDlq.create({ path: paths.dlq, readonly: true });
  try {
    if (sub === 'stats') {
      const c = dlq.counts();
      const w = Math.max(...DEAD_LETTER_REASONS.map((r) => r.length));
      ctx.stdout.write(DEAD_LETTER_REASONS.map((r) => `${r.padEnd(w)}  ${c[r]}`).join('\n') + '\n');
      return 0;
    }
    const rows = dlq.list({ limit, reason: values.reason as (typeof DEAD_LETTER_REASONS)[number] | undefined, deviceId: values.device });
    if (values.json) {
      for (const r of rows) {
        ctx.stdout.write(JSON.stringify({ ...r, at: new Date(r.at).toISOString(), payload: r.payload.toString('base64') }) + '\n');
      }
      return 0;
    }
    if (rows.length === 0) {
      ctx.stdout.write('no dead letters\n');
      return 0;
    }
    for (const r of rows) {
      ctx.stdout.write(
        `#${r.id} ${new Date(r.at).toISOString()} ${r.reason} topic=${r.topic}` +
          `${r.clientId ? ` client=${r.clientId}` : ''}${r.deviceId ? ` device=${r.deviceId}` : ''}\n` +
          `    ${r.detail}${r.code ? ` [${r.code}]` : ''}\n` +
          `    payload (${r.payloadBytes} bytes${r.truncated ? ', truncated' : ''}): ${preview(r.payload)}\n`,
      );
    }
    return 0;
  } finally {
    await dlq.close();
  }
}

function preview(b: Buffer): string {
  const s = b.subarray(0, 120).toString('utf8');
  const printable = s.replace(/[^\x20-\x7e]/g, '.');
  return JSON.stringify(printable) + (b.byteLength > 120 ? '…' : '');
}
