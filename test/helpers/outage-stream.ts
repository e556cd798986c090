/**
 * A real LocalStream whose put() can be made to fail — a stream outage (`down = true`) or the next N puts
 * (`failNext`) — delegating everything else. Records the size of every successful put.
 */
import type { LocalStream } from '../../cloud/stream/local-stream.ts';
import type { PutResult, Stream, StreamRecord } from '../../cloud/stream/stream.ts';

export class OutageStream implements Stream {
  down = false;
  failNext = 0;
  readonly puts: number[] = [];
  readonly inner: LocalStream;
  constructor(inner: LocalStream) {
    this.inner = inner;
  }
  get name(): string {
    return this.inner.name;
  }
  start(): Promise<void> {
    return this.inner.start();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  async put(records: StreamRecord[]): Promise<PutResult> {
    if (this.down) throw new Error('stream outage');
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('simulated stream outage');
    }
    this.puts.push(records.length);
    return this.inner.put(records);
  }
  listShards(): Promise<string[]> {
    return this.inner.listShards();
  }
  read(...a: Parameters<Stream['read']>): ReturnType<Stream['read']> {
    return this.inner.read(...a);
  }
  checkpoint(...a: Parameters<Stream['checkpoint']>): Promise<void> {
    return this.inner.checkpoint(...a);
  }
  getCheckpoint(...a: Parameters<Stream['getCheckpoint']>): Promise<string | undefined> {
    return this.inner.getCheckpoint(...a);
  }
}
