/**
 * mqtt.js (v5) deep-copies every QoS 1/2 PUBLISH, payload included, before putting it in its outgoing store
 * (`_storeAndSend` clones with rfdc so that topic-alias rewriting cannot touch the stored copy). For an agent that
 * sends 120 KiB messages that is a second 120 KiB buffer per message: at 150 messages/s it was 18 MB/s of garbage
 * and ~10 MB of peak RSS (bench:agent). Without topic aliases the copy protects nothing, so the store gets a shallow
 * copy of the packet that shares the payload. The caller must not change a payload before its publish settles
 * (the publisher reuses a buffer only after PUBACK or failure, and mqtt.js deletes the stored packet before calling
 * back on either).
 *
 * Why a replaced private method and not a supported option: the only injection point near the copy is the
 * `outgoingStore` option (MQTT.js's `Store`/`IStore`), and `_storeAndSend` makes the copy *before* calling
 * `outgoingStore.put()`, so a custom store receives the copy, never the caller's packet (docs/transports.md,
 * "The payload copy"). No other option skips the clone in mqtt.js 5.16.
 *
 * Applied per client, and only when the client's `_storeAndSend` is, character for character (whitespace aside),
 * the method this replacement was written against (STORE_AND_SEND_SHA256). Any other mqtt.js keeps its own
 * behaviour (the copy costs memory, never correctness), MqttTransport logs that it did, and
 * test/transport/publish-without-copy.test.ts fails until this file has been re-checked against the new method.
 */
import { createHash } from 'node:crypto';
import type { MqttClient } from 'mqtt';

interface PublishPacket {
  cmd: string;
  properties?: { topicAlias?: number } | undefined;
}
interface ClientInternals {
  _storeAndSend?: (packet: PublishPacket, cb: ((err?: Error) => void) | undefined, cbStorePut: () => void) => void;
  _writePacket?: (packet: PublishPacket, cb: ((err?: Error) => void) | undefined) => void;
  outgoingStore?: { put(packet: PublishPacket, cb: (err?: Error) => void): unknown };
}

/**
 * sha256 of mqtt.js 5.16.0's `MqttClient.prototype._storeAndSend` source with all whitespace removed. The
 * replacement below is that method without the rfdc clone; when the method changes, re-read it (node_modules/mqtt/
 * build/lib/client.js), carry the change over, and put the new fingerprint here.
 */
export const STORE_AND_SEND_SHA256 = 'e01b85e679dcc041f132b204746efa768bdffb7abec23eb010a77d6de3b1f8d1';

/** The fingerprint of a function's source, whitespace removed (see STORE_AND_SEND_SHA256). */
export function sourceFingerprint(fn: (...args: never[]) => unknown): string {
  return createHash('sha256').update(Function.prototype.toString.call(fn).replace(/\s+/g, '')).digest('hex');
}

/** Returns true when the client was changed; false when it lacks the internals or they are not the known ones. */
export function publishWithoutPayloadCopy(client: MqttClient): boolean {
  const c = client as unknown as ClientInternals;
  const original = c._storeAndSend;
  if (
    typeof original !== 'function' ||
    typeof c._writePacket !== 'function' ||
    typeof c.outgoingStore?.put !== 'function'
  )
    return false;
  if (sourceFingerprint(original) !== STORE_AND_SEND_SHA256) return false;
  c._storeAndSend = function (this: ClientInternals, packet, cb, cbStorePut) {
    if (packet.cmd !== 'publish' || packet.properties?.topicAlias !== undefined)
      return original.call(this, packet, cb, cbStorePut);
    this.outgoingStore!.put({ ...packet }, (err) => {
      if (err) return cb?.(err);
      cbStorePut();
      this._writePacket!(packet, cb);
    });
  };
  return true;
}
