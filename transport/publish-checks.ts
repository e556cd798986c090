/** Argument checks every Transport.publish() makes before touching the connection. Pure. */
import { EdgeloopError } from '../protocol/errors.ts';
import type { TransportMessage } from './transport.ts';

/** The reason `msg` cannot be published, or undefined when it is well-formed and within `maxPayloadBytes`. */
export function publishArgumentError(msg: TransportMessage, maxPayloadBytes: number): EdgeloopError | undefined {
  const { topic, payload, qos } = msg;
  if (typeof topic !== 'string' || topic.length === 0 || topic.includes('+') || topic.includes('#')) {
    return new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `publish: topic ${JSON.stringify(topic)} is not a concrete topic name`,
    );
  }
  if (!(payload instanceof Uint8Array)) {
    return new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'publish: payload must be a Uint8Array or Buffer');
  }
  if (qos !== 0 && qos !== 1) {
    return new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `publish: qos must be 0 or 1, got ${String(qos)}`);
  }
  if (payload.byteLength > maxPayloadBytes) {
    return new EdgeloopError(
      'EL_ERR_MESSAGE_TOO_LARGE',
      `publish: payload of ${payload.byteLength} bytes exceeds maxPayloadBytes ${maxPayloadBytes}`,
    );
  }
  return undefined;
}
