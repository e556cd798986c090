/**
 * Shared set-up for the embedded broker tests: credentials, a started broker with a DLQ, and promise wrappers over
 * mqtt.js (connect resolving on CONNACK, subscribe resolving with the granted QoS, publish on its acknowledgement).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { onTestFinished } from 'vitest';
import { EmbeddedBroker, type EmbeddedBrokerOptions } from '../../../cloud/broker/embedded-broker.ts';
import { parseCredentials } from '../../../cloud/broker/credentials.ts';
import { hashPassword } from '../../../cloud/broker/password-hash.ts';
import { SqliteDlq } from '../../../cloud/dlq/sqlite-dlq.ts';

export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'edgeloop-broker-'));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

export const FAST = { N: 1024, r: 8, p: 1 }; // cheap scrypt for tests; production default is N=16384

/** devices dev-1 (pw-1), dev-2 (pw-2); services ingest (svc-pw), svc-a (pw-a), svc-b (pw-b) */
export async function credentials() {
  return parseCredentials(
    {
      devices: { 'dev-1': await hashPassword('pw-1', FAST), 'dev-2': await hashPassword('pw-2', FAST) },
      services: {
        ingest: await hashPassword('svc-pw', FAST),
        'svc-a': await hashPassword('pw-a', FAST),
        'svc-b': await hashPassword('pw-b', FAST),
      },
    },
    'test',
  );
}

export async function startBroker(
  opts: EmbeddedBrokerOptions = {},
): Promise<{ broker: EmbeddedBroker; dlq: SqliteDlq }> {
  const dlq = await SqliteDlq.create({ path: join(tempDir(), 'dlq.db') });
  const broker = new EmbeddedBroker({
    port: 0,
    credentials: await credentials(),
    onRefused: (d) => dlq.add(d),
    ...opts,
  });
  await broker.start();
  onTestFinished(async () => {
    await broker.close();
    await dlq.close();
  });
  return { broker, dlq };
}

/** An IPv4 address of this machine other than loopback (a client from there is "from the network"). */
/**
 * Connect from a given loopback source address (127.0.0.0/8: every address of it is this machine's), so a test can
 * play two different client addresses without leaving the machine.
 */
export async function connectFrom(localAddress: string, port: number, opts: IClientOptions): Promise<MqttClient> {
  const c = new mqtt.MqttClient(() => createConnection({ host: '127.0.0.1', port, localAddress }), {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    protocolVersion: 4,
    ...opts,
  });
  return connected(c);
}

/** Resolves with the client on CONNACK, rejects on an error or a close before it; ends the client after the test. */
function connected(c: MqttClient): Promise<MqttClient> {
  onTestFinished(() => new Promise<void>((r) => c.end(true, {}, () => r())));
  return new Promise<MqttClient>((resolve, reject) => {
    c.once('connect', () => resolve(c));
    c.once('error', reject);
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

export function memoryLogger(): {
  logger: Logger;
  lines: Array<Record<string, unknown> & { level: number; msg: string }>;
} {
  const lines: Array<Record<string, unknown> & { level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

/**
 * Connect and resolve with the client, or reject with the CONNACK error. `setup` runs before the connection is
 * made (e.g. to attach a message handler that must see messages delivered right after the CONNACK).
 */
export async function connect(url: string, opts: IClientOptions, setup?: (c: MqttClient) => void): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts, manualConnect: true });
  setup?.(c);
  const done = connected(c);
  c.connect();
  return done;
}

/** Granted QoS, or 128 when the broker refused (mqtt.js reports a SUBACK failure as an error). */
export function subscribe(c: MqttClient, topic: string | string[], qos: 0 | 1 | 2 = 1): Promise<number> {
  return new Promise((resolve, reject) =>
    c.subscribe(topic, { qos }, (err, granted) => {
      if (err && err.name === 'ErrorWithSubackPacket') resolve(128);
      else if (err) reject(err);
      else resolve(granted![0]!.qos);
    }),
  );
}

export function publish(
  c: MqttClient,
  topic: string,
  payload: Buffer | string,
  opts: { qos?: 0 | 1 | 2; retain?: boolean } = {},
): Promise<void> {
  return new Promise((resolve, reject) =>
    c.publish(topic, payload, { qos: 1, ...opts }, (err) => (err ? reject(err) : resolve())),
  );
}

/** Disconnect cleanly (DISCONNECT packet, so no will is published) and wait for the close. */
export function disconnect(c: MqttClient): Promise<void> {
  return new Promise((r) => c.end(false, {}, () => r()));
}
