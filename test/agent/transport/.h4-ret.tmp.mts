import mqtt from 'mqtt';
import awsIot from 'aws-iot-device-sdk-v2';
import { AwsIotTransport } from '../../../agent/transport/aws-iot-transport.ts';
import { startMosquitto } from '../../helpers/mosquitto.ts';
const M = awsIot.mqtt5.Mqtt5Client as any;
const orig = M._s_on_message_received;
let entryDetached = 0, entries = 0;
M._s_on_message_received = function (c: any, m: any, id: any) { entries++; if (m?.payload instanceof ArrayBuffer) { try { new Uint8Array(m.payload); } catch { entryDetached++; } } return orig.call(this, c, m, id); };
const b = await startMosquitto();
const c = await mqtt.connectAsync(b.url);
let fails = 0;
for (let i = 0; i < 150; i++) {
  await c.publishAsync(`r/${i}/m1`, 'manifest-v1', { qos: 1, retain: true });
  const t = new AwsIotTransport({ endpoint: '127.0.0.1', port: b.port, clientId: 'ret' + i, insecurePlaintext: true });
  const errs: Error[] = [];
  t.on('error', (e) => errs.push(e));
  await t.start();
  const got = new Promise<string>((r) => t.once('message', (_t, p) => r(p.toString())));
  await t.subscribe([`r/${i}/+`], 1);
  const v = await Promise.race([got, new Promise<string>((r) => setTimeout(() => r('TIMEOUT ' + errs.map((e) => e.message).join(';')), 2000))]);
  if (v !== 'manifest-v1') { fails++; console.log(i, v); }
  await t.close();
}
console.log({ fails, entries, entryDetached });
await c.endAsync(); await b.close();
