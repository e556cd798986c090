import v8 from 'node:v8';
import vm from 'node:vm';
import { AwsIotTransport } from '../../../agent/transport/aws-iot-transport.ts';
const [host, portText] = process.argv.slice(2);
async function run() {
  const t = new AwsIotTransport({ endpoint: host!, port: Number(portText), clientId: `gc-${process.pid}`, insecurePlaintext: true });
  await t.start();
  await t.publish({ topic: 'gc/x', payload: Buffer.from('x'), qos: 1 });
  await t.close();
}
await run();
await new Promise((r) => setImmediate(r));
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const t0 = performance.now();
gc();
console.log('gc ms', (performance.now() - t0).toFixed(1));
