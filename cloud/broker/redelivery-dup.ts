/**
 * MQTT-3.3.1-1: a PUBLISH that the broker sends again must carry the DUP flag. aedes redelivers a persistent
 * session's queue on reconnect from `persistence.outgoingStream()` without setting it. That queue holds two kinds of
 * QoS 1/2 packets: those already sent to the client (aedes gave them a packet id when it sent them) and those
 * queued while the client was away (no packet id yet, first delivery). This wraps the persistence so the first kind
 * comes out with DUP set; PUBREL entries (which must not carry DUP) and first deliveries are left as they are.
 */
import { Readable } from 'node:stream';

interface QueuedPacket {
  cmd?: string;
  messageId?: number | undefined;
  dup?: boolean;
}

export interface OutgoingQueue {
  outgoingStream(client: unknown): NodeJS.ReadableStream;
}

async function* markResent(src: AsyncIterable<QueuedPacket>): AsyncGenerator<QueuedPacket> {
  for await (const p of src) yield p.cmd === 'publish' && p.messageId ? { ...p, dup: true } : p;
}

/** Make `persistence.outgoingStream` mark packets that were sent before as DUP (copies; the stored ones are untouched). */
export function markRedeliveriesDup(persistence: OutgoingQueue): void {
  const stream = persistence.outgoingStream.bind(persistence);
  persistence.outgoingStream = (client) => Readable.from(markResent(stream(client) as AsyncIterable<QueuedPacket>));
}
