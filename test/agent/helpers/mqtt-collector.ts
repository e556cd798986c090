/** A real mqtt.js subscriber that records every message on some topics, with await-able conditions. */
import mqtt from 'mqtt';
import { onTestFinished } from 'vitest';

export interface Received {
  topic: string;
  body: Record<string, unknown>;
  retain: boolean;
}

export interface Collector {
  messages: Received[];
  waitFor(pred: (msgs: Received[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** `persistent`: a session the broker keeps (clean: false), so messages published while the collector is cut off
 * by a broker outage are queued for it and delivered after the reconnect. */
export async function collect(url: string, topics: string[], opts: { persistent?: boolean } = {}): Promise<Collector> {
  const client = mqtt.connect(url, {
    clientId: `collector-${Math.random().toString(16).slice(2)}`,
    reconnectPeriod: 100,
    ...(opts.persistent ? { clean: false } : {}),
  });
  const messages: Received[] = [];
  const waiters = new Set<() => void>();
  client.on('message', (topic, payload, packet) => {
    messages.push({
      topic,
      body: JSON.parse(payload.toString('utf8')) as Record<string, unknown>,
      retain: packet.retain,
    });
    for (const w of [...waiters]) w();
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync(topics, { qos: 1 });
  const c: Collector = {
    messages,
    waitFor: (pred, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        if (pred(messages)) return resolve();
        const check = (): void => {
          if (pred(messages)) {
            clearTimeout(t);
            waiters.delete(check);
            resolve();
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`condition not met within ${timeoutMs} ms (${messages.length} messages received)`));
        }, timeoutMs);
        waiters.add(check);
      }),
    close: () => client.endAsync(true).then(() => undefined),
  };
  onTestFinished(() => c.close());
  return c;
}

/** All telemetry readings received, flattened. */
export function readingsOf(msgs: Received[]): Array<{ seq: number; sensor: string; ts: number; value: number }> {
  return msgs
    .filter((m) => m.body.type === 'telemetry')
    .flatMap((m) => m.body.readings as Array<{ seq: number; sensor: string; ts: number; value: number }>);
}
