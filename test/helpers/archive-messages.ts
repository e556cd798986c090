/**
 * Device messages into a real LocalStream (`<dataDir>/stream.db`) and everything readable into the raw archive
 * (`<dataDir>/archive`): how the warehouse tests and the reports benchmark build their data.
 */
import { join } from 'node:path';
import { RawArchive } from '../../cloud/archive/raw-archive.ts';
import { LocalStream } from '../../cloud/stream/local-stream.ts';
import { encodeMessage, type DeviceMessage } from '../../protocol/messages.ts';

export async function archiveMessages(dataDir: string, messages: Iterable<DeviceMessage>): Promise<void> {
  const stream = new LocalStream({ path: join(dataDir, 'stream.db'), shardCount: 2, synchronous: 'NORMAL' });
  await stream.start();
  try {
    let batch: DeviceMessage[] = [];
    const put = async (): Promise<void> => {
      await stream.put(batch.map((m) => ({ partitionKey: m.deviceId, data: encodeMessage(m) })));
      batch = [];
    };
    for (const m of messages) {
      batch.push(m);
      if (batch.length >= 500) await put();
    }
    if (batch.length > 0) await put();
    const archive = new RawArchive({
      stream,
      dir: join(dataDir, 'archive'),
      flushRows: 100_000,
      flushIntervalMs: 1,
      idleWaitMs: 5,
      compactSettleMs: 0,
    });
    await archive.start();
    await archive.drain();
    await archive.close();
  } finally {
    await stream.close();
  }
}
