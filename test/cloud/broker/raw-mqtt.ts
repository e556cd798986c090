/**
 * A raw MQTT connection for the checks that a well-behaved client library cannot make: a CONNECT with a wrong
 * protocol name, level 5 bytes, a second CONNECT on one socket, a client that stops sending (no PINGREQ). It encodes
 * CONNECT by hand (MQTT 3.1.1 §3.1, MQTT 5 §3.1) and collects every byte the broker sends until it closes.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { onTestFinished } from 'vitest';

export interface RawConnect {
  clientId: string;
  clean?: boolean;
  keepalive?: number;
  /** default 'MQTT' */
  protocolName?: string;
  /** 4 = 3.1.1 (default), 5 = MQTT 5 */
  level?: number;
  username?: string;
  password?: string;
  will?: { topic: string; payload: string; qos?: 0 | 1 | 2 };
}

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

export function connectPacket(o: RawConnect): Buffer {
  const level = o.level ?? 4;
  const v5 = level === 5;
  let flags = o.clean === false ? 0 : 0x02;
  if (o.will) flags |= 0x04 | ((o.will.qos ?? 0) << 3);
  if (o.username !== undefined) flags |= 0x80;
  if (o.password !== undefined) flags |= 0x40;
  const keepalive = o.keepalive ?? 60;
  const parts = [str(o.protocolName ?? 'MQTT'), Buffer.from([level, flags, keepalive >> 8, keepalive & 0xff])];
  if (v5) parts.push(varint(0)); // no CONNECT properties
  parts.push(str(o.clientId));
  if (o.will) {
    if (v5) parts.push(varint(0)); // no will properties
    parts.push(str(o.will.topic), str(o.will.payload));
  }
  if (o.username !== undefined) parts.push(str(o.username));
  if (o.password !== undefined) parts.push(str(o.password));
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x10]), varint(body.length), body]);
}

/** SUBSCRIBE with one topic filter (MQTT 3.1.1 §3.8). */
export function subscribePacket(packetId: number, filter: string, qos: 0 | 1 | 2): Buffer {
  const body = Buffer.concat([Buffer.from([packetId >> 8, packetId & 0xff]), str(filter), Buffer.from([qos])]);
  return Buffer.concat([Buffer.from([0x82]), varint(body.length), body]);
}

export interface RawPacket {
  /** control packet type: 2 CONNACK, 3 PUBLISH, 9 SUBACK, ... */
  type: number;
  flags: number;
  body: Buffer;
}

/** Split a byte sequence into MQTT control packets (a trailing partial packet is left out). */
export function splitPackets(buf: Buffer): RawPacket[] {
  const out: RawPacket[] = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    let len = 0;
    let mul = 1;
    let j = i + 1;
    for (;;) {
      if (j >= buf.length) return out;
      const b = buf[j++]!;
      len += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) break;
    }
    if (j + len > buf.length) return out;
    out.push({ type: buf[i]! >> 4, flags: buf[i]! & 0x0f, body: buf.subarray(j, j + len) });
    i = j + len;
  }
  return out;
}

/** The PUBLISH packets in a byte sequence: topic, QoS and DUP flag. */
export function publishes(buf: Buffer): Array<{ topic: string; qos: number; dup: boolean }> {
  return splitPackets(buf)
    .filter((p) => p.type === 3)
    .map((p) => ({
      topic: p.body.subarray(2, 2 + p.body.readUInt16BE(0)).toString('utf8'),
      qos: (p.flags >> 1) & 3,
      dup: (p.flags & 8) !== 0,
    }));
}

export interface RawClient {
  socket: Socket;
  /** every byte received so far */
  received(): Buffer;
  /** resolves once `until(received())` holds (checked on each chunk) */
  waitFor(until: (received: Buffer) => boolean): Promise<Buffer>;
  /** resolves once the broker has closed the connection */
  closed: Promise<void>;
}

export async function rawConnect(port: number, ...packets: Buffer[]): Promise<RawClient> {
  const socket = netConnect({ host: '127.0.0.1', port });
  onTestFinished(() => void socket.destroy());
  const chunks: Buffer[] = [];
  const waiters: Array<() => void> = [];
  socket.on('data', (d) => {
    chunks.push(d);
    for (const w of waiters.splice(0)) w();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  for (const p of packets) socket.write(p);
  const received = (): Buffer => Buffer.concat(chunks);
  const waitFor = async (until: (r: Buffer) => boolean): Promise<Buffer> => {
    while (!until(received())) {
      if (socket.destroyed) throw new Error(`connection closed; received ${received().toString('hex')}`);
      await new Promise<void>((r) => waiters.push(r));
    }
    return received();
  };
  socket.once('close', () => {
    for (const w of waiters.splice(0)) w();
  });
  return { socket, received, waitFor, closed };
}
