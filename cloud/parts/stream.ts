import { definePart } from '../../lib/parts.ts';
import type { Stream } from '../stream/stream.ts';
import { importPart, simplePart, type CloudContext, type CloudPart } from './context.ts';

/** The stream: LocalStream (`<dataDir>/stream.db`) or KinesisStream. */
export const streamPart = definePart({
  name: 'stream',
  create: async (_needs, ctx: CloudContext): Promise<CloudPart<Stream>> => {
    const c = ctx.config.stream;
    if (c.kind === 'kinesis') {
      const { KinesisStream } = await importPart('stream', () => import('../stream/kinesis-stream.ts'));
      // KinesisStream's client config picks the HTTP/1 handler for plain-HTTP local endpoints itself
      return simplePart(
        'stream',
        new KinesisStream({
          checkpointPath: `${ctx.paths.dataDir}/kinesis-checkpoints.db`,
          ...c.kinesis,
          logger: ctx.logger.child({ part: 'stream' }),
        } as ConstructorParameters<typeof KinesisStream>[0]),
      );
    }
    const { LocalStream } = await import('../stream/local-stream.ts');
    return simplePart(
      'stream',
      new LocalStream({
        path: ctx.paths.stream,
        name: c.name,
        shardCount: c.local.shardCount,
        synchronous: c.local.synchronous,
        retentionMs: c.local.retentionHours * 3_600_000,
        retentionBytes: c.local.retentionBytes,
        clock: ctx.clock,
      }),
    );
  },
});
