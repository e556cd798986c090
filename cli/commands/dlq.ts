/**
 * `edgeloop dlq list|stats`: inspect the dead-letter store (<dataDir>/dlq.db) read-only; safe while the cloud runs.
 */
import type { CliContext } from '../../lib/cli-context.ts';
import { choiceFlag, numberFlag, parseFlags, usageError } from '../../lib/cli-errors.ts';
import { requireStore, resolveDataDir } from './features.ts';

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
  --data-dir DIR      the cloud's data directory (default: dataDir of the config, ./.edgeloop/cloud, where
                      \`edgeloop up\` and \`edgeloop cloud\` keep it)

exit status: 0 listed (also when the store is empty), 1 no dead-letter store in the data directory or another
error, 2 wrong flags.
`;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseFlags('dlq', argv, {
    options: {
      limit: { type: 'string', default: '20' },
      reason: { type: 'string' },
      device: { type: 'string' },
      json: { type: 'boolean' },
      config: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    allowPositionals: true,
  });
  const sub = positionals[0];
  if ((sub !== 'list' && sub !== 'stats') || positionals.length > 1) {
    throw usageError(
      'dlq',
      sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(positionals.join(' '))}`,
      'list or stats; see edgeloop dlq --help',
    );
  }
  const { SqliteDlq, DEAD_LETTER_REASONS } = await import('../../cloud/dlq/sqlite-dlq.ts');
  const limit = numberFlag('dlq', '--limit', values.limit, { min: 1, integer: true })!;
  const reason = choiceFlag('dlq', '--reason', values.reason, DEAD_LETTER_REASONS);
  const { paths } = await resolveDataDir(values, ctx);
  requireStore(paths.dlq, 'dead-letter store', paths.dataDir);
  const dlq = await SqliteDlq.create({ path: paths.dlq, readonly: true });
  try {
    if (sub === 'stats') {
      const c = dlq.counts();
      const w = Math.max(...DEAD_LETTER_REASONS.map((r) => r.length));
      ctx.stdout.write(DEAD_LETTER_REASONS.map((r) => `${r.padEnd(w)}  ${c[r]}`).join('\n') + '\n');
      return 0;
    }
    const rows = dlq.list({ limit, reason, deviceId: values.device });
    if (values.json) {
      for (const r of rows) {
        ctx.stdout.write(
          JSON.stringify({ ...r, at: new Date(r.at).toISOString(), payload: r.payload.toString('base64') }) + '\n',
        );
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
