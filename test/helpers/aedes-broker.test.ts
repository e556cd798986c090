import { connectAsync } from 'mqtt';
import { expect, it } from 'vitest';
import { startTestBroker } from './aedes-broker.ts';

it('test broker delivers QoS 1 and survives stop/restart', async () => {
  const b = await startTestBroker();
  try {
    const sub = await connectAsync(b.url, { reconnectPeriod: 50 });
    await sub.subscribeAsync('t/#', { qos: 1 });
    const got = new Promise<string>((r) => sub.once('message', (_t, p) => r(p.toString())));
    const pub = await connectAsync(b.url);
    await pub.publishAsync('t/1', 'hello', { qos: 1 });
    expect(await got).toBe('hello');
    await pub.endAsync();
    await b.stop();
    await b.restart();
    await new Promise<void>((r) => sub.once('connect', () => r()));
    await sub.endAsync();
  } finally {
    await b.close();
  }
});
