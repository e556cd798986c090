import { Counter } from 'prom-client';
import { definePart } from '../../lib/parts.ts';
import { DEAD_LETTER_REASONS, SqliteDlq } from '../dlq/sqlite-dlq.ts';
import { simplePart, type CloudContext } from './context.ts';

/** The dead-letter store, `<dataDir>/dlq.db`, and its counter by reason. */
export const dlqPart = definePart({
  name: 'dlq',
  create: (_needs, ctx: CloudContext) => {
    const dlq = new SqliteDlq({
      path: ctx.paths.dlq,
      maxPayloadBytes: ctx.config.dlq.maxPayloadBytes,
      maxRows: ctx.config.dlq.maxRows,
      maxAgeMs: ctx.config.dlq.maxAgeDays * 86_400_000,
      clock: ctx.clock,
    });
    new Counter({
      name: 'edgeloop_dlq_messages_total',
      help: 'Messages written to the dead-letter store, by reason (this process).',
      labelNames: ['reason'],
      registers: [ctx.registry],
      collect() {
        let counts: Record<string, number>;
        try {
          counts = dlq.sessionCounts();
        } catch {
          return;
        }
        this.reset();
        for (const r of DEAD_LETTER_REASONS) this.inc({ reason: r }, counts[r] ?? 0);
      },
    });
    return simplePart('dlq', dlq);
  },
});
