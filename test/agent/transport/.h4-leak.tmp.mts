import { AwsIotTransport } from '../../../agent/transport/aws-iot-transport.ts';
import { MqttTransport } from '../../../agent/transport/mqtt-transport.ts';
const [host, portText, which] = process.argv.slice(2);
const port = Number(portText);
console.log('before', process.getActiveResourcesInfo());
const t = which === 'aws'
  ? new AwsIotTransport({ endpoint: host!, port, clientId: `leak-${process.pid}`, insecurePlaintext: true })
  : new MqttTransport({ url: `mqtt://${host}:${port}`, clientId: `leak-${process.pid}`, protocolVersion: 5, publishRatePerSecond: 50 });
await t.start();
const got = new Promise<void>((resolve) => t.once('message', () => resolve()));
await t.subscribe(['leak/x'], 1);
await t.publish({ topic: 'leak/x', payload: Buffer.from('x'), qos: 1 });
await got;
await t.close();
console.log('after close', process.getActiveResourcesInfo());
setTimeout(() => console.log('later', process.getActiveResourcesInfo()), 200).unref();
