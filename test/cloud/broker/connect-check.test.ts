/**
 * CONNECT packets the embedded broker (MQTT 3.1.1) must refuse: an MQTT 5 CONNECT gets a v5 CONNACK with reason
 * 0x84 and a log line naming the supported path; an empty client id with CleanSession=0 gets 0x02 (the Paho suite
 * checks that one too: paho-interop.test.ts).
 */
import mqtt from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { checkConnect } from '../../../cloud/broker/connect-check.ts';
import { connect, memoryLogger, startBroker } from './broker-helpers.ts';
import { connectPacket, rawConnect } from './raw-mqtt.ts';

describe('checkConnect', () => {
  it('refuses MQTT 5 with a v5 CONNACK 0x84 and an empty client id with CleanSession=0 with 0x02; accepts the rest', () => {
    expect(checkConnect({ protocolVersion: 5, clientId: 'x', clean: true })).toMatchObject({
      code: 0x84,
      connack: Buffer.from([0x20, 3, 0, 0x84, 0]),
    });
    expect(checkConnect({ protocolVersion: 4, clientId: '', clean: false })).toMatchObject({
      code: 0x02,
      connack: Buffer.from([0x20, 2, 0, 2]),
    });
    expect(checkConnect({ protocolVersion: 3, clientId: '', clean: false })?.code).toBe(0x02);
    expect(checkConnect({ protocolVersion: 4, clientId: '', clean: true })).toBeUndefined();
    expect(checkConnect({ protocolVersion: 4, clientId: 'dev-1', clean: false })).toBeUndefined();
  });
});

describe('EmbeddedBroker and MQTT 5 clients', () => {
  it('answers an MQTT 5 CONNECT with a v5 CONNACK "Unsupported Protocol Version" (0x84), closes, and logs where MQTT 5 devices go', async () => {
    const { logger, lines } = memoryLogger();
    const { broker } = await startBroker({ logger });
    const raw = await rawConnect(
      broker.port!,
      connectPacket({ clientId: 'dev-1', username: 'dev-1', password: 'pw-1', level: 5 }),
    );
    await raw.closed;
    expect(raw.received()).toEqual(Buffer.from([0x20, 0x03, 0x00, 0x84, 0x00]));

    // mqtt.js as an MQTT 5 client reports the reason as a clean error, and does not loop
    const c = mqtt.connect(broker.url!, {
      clientId: 'dev-1',
      username: 'dev-1',
      password: 'pw-1',
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    onTestFinished(() => new Promise<void>((r) => c.end(true, {}, () => r())));
    const err = await new Promise<Error & { code?: number }>((resolve) => c.once('error', resolve));
    expect(err.code).toBe(0x84);
    expect(err.message).toMatch(/Unsupported Protocol Version/);

    expect(broker.stats()).toMatchObject({ protocolRefusals: 2, authFailures: 0 });
    const warn = lines.filter((l) => l.level === 40 && l.protocolVersion === 5);
    expect(warn).toHaveLength(2);
    expect(warn[0]!.msg).toMatch(/speaks MQTT 3\.1\.1 only.*mosquitto \(broker\.mode: external\) or AWS IoT Core/);
    // other levels never reach the broker: mqtt-packet's parser refuses them and the connection closes without a
    // CONNACK (MQTT-3.1.2-2 asks for 0x01; documented in docs/broker.md)
    const level6 = await rawConnect(
      broker.port!,
      connectPacket({ clientId: 'dev-1', username: 'dev-1', password: 'pw-1', level: 6 }),
    );
    await level6.closed;
    expect(level6.received()).toHaveLength(0);
    // 3.1.1 clients are unaffected
    expect((await connect(broker.url!, { clientId: 'dev-1', username: 'dev-1', password: 'pw-1' })).connected).toBe(
      true,
    );
  });
});
