/**
 * mqtt.js (v5) deep-copies every QoS 1/2 PUBLISH, payload included, before putting it in its outgoing store
 * (`_storeAndSend` clones with rfdc so that topic-alias rewriting cannot touch the stored copy). For an agent that
 * sends 120 KiB messages that is a second 120 KiB buffer per message: at 150 messages/s it was 18 MB/s of garbage
 * and ~10 MB of peak RSS (bench:agent). Without topic aliases the copy protects nothing, so the store gets a shallow
 * copy of the packet that shares the payload. The caller must not change a payload before its publish settles
 * (the publisher reuses a buffer only after PUBACK or failure, and mqtt.js deletes the stored packet before calling
 * back on either).
 *
 * Applied per client, and only when the client has the two internals this relies on; another mqtt.js version keeps
 * its own behaviour (the copy costs memory, never correctness).
 */
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

/** Returns true when the client was changed. */
export function publishWithoutPayloadCopy(client: MqttClient): boolean {
  const c = client as unknown as ClientInternals;
  const original = c._storeAndSend;
  if (typeof original !== 'function' || typeof c._writePacket !== 'function' || typeof c.outgoingStore?.put !== 'function') return false;
  c._storeAndSend = function (this: ClientInternals, packet, cb, cbStorePut) {
    if (packet.cmd !== 'publish' || packet.properties?.topicAlias !== undefined) return original.call(this, packet, cb, cbStorePut);
    this.outgoingStore!.put({ ...packet }, (err) => {
      if (err) return cb?.(err);
      cbStorePut();
      this._writePacket!(packet, cb);
    });
  };
  return true;
}
