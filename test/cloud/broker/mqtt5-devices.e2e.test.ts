/**
 * The supported path for MQTT 5 devices: the embedded broker (MQTT 3.1.1) refuses them with CONNACK 0x84
 * (connect-check.test.ts); `edgeloop cloud` with mosquitto as the external broker takes them end to end. An mqtt.js
 * client speaking MQTT 5 (with v5 properties on its publishes) sends telemetry through a real Debian mosquitto; the
 * cloud's ingest puts every reading into the stream once.
 */
import mqtt from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createCloud } from '../../../cloud/create-cloud.ts';
import { parseCloudConfig } from '../../../cloud/config.ts';
import type { Ingest } from '../../../cloud/ingest/ingest.ts';
import type { Stream } from '../../../cloud/stream/stream.ts';
import { startMosquitto } from '../../helpers/mosquitto.ts';
import { enc, range, readAll, telemetry } from '../ingest/ingest-helpers.ts';
import { eventually, tempDir } from '../e2e/e2e-helpers.ts';

describe('MQTT 5 devices through edgeloop cloud with mosquitto', () => {
  it('an MQTT 5 client publishes telemetry with v5 properties; it reaches the stream exactly once', async () => {
    const broker = await startMosquitto();
    onTestFinished(() => broker.close());
    const cloud = createCloud(
      parseCloudConfig({
        dataDir: tempDir(),
        only: ['ingest'],
        broker: { mode: 'external', external: { url: broker.url, protocolVersion: 5 } },
        http: { enabled: false },
      }),
    );
    onTestFinished(() => cloud.close());
    await cloud.start();

    const device = mqtt.connect(broker.url, {
      clientId: 'pump-5',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      reconnectPeriod: 0,
    });
    onTestFinished(() => new Promise<void>((r) => device.end(true, {}, () => r())));
    const connack = await new Promise<{ reasonCode?: number; returnCode?: number }>((resolve, reject) => {
      device.once('connect', resolve);
      device.once('error', reject);
    });
    expect(connack.reasonCode ?? connack.returnCode).toBe(0);
    const props = { contentType: 'application/json', messageExpiryInterval: 300, userProperties: { fw: '2.1.0' } };
    for (let i = 0; i < 5; i++) {
      const puback = await device.publishAsync(
        'edgeloop/v1/pump-5/telemetry',
        enc(telemetry('pump-5', 1 + i * 10, 10)),
        { qos: 1, properties: props },
      );
      expect((puback as { reasonCode?: number } | undefined)?.reasonCode ?? 0).toBe(0);
    }
    // a resend of the first message (as after a lost PUBACK) adds nothing
    await device.publishAsync('edgeloop/v1/pump-5/telemetry', enc(telemetry('pump-5', 1, 10)), {
      qos: 1,
      properties: { ...props, payloadFormatIndicator: true },
    });

    const ingest = cloud.parts.get('ingest')!.instance as Ingest;
    await eventually(async () => (ingest.stats().messages >= 6 ? true : undefined), 'six messages seen by the ingest');
    await ingest.idle();
    const back = await readAll(cloud.parts.get('stream')!.instance as Stream);
    expect(back.seqs.get('pump-5')).toEqual(range(1, 50));
    expect(ingest.stats().duplicateRecords).toBe(10);
  });
});
