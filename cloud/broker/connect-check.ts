/**
 * CONNECT checks that aedes does not make itself, as pure logic: which CONNECT packets the embedded broker (an
 * MQTT 3.1.1 server) refuses, and the exact CONNACK bytes it answers with before closing the connection.
 *
 * - MQTT 5 (protocol level 5). The broker speaks 3.1.1, whose answer to an unsupported level is return code 0x01
 *   [MQTT-3.1.2-2]; but a v5 client decodes the CONNACK as MQTT 5, where 0x01 is no CONNACK reason. So the answer is
 *   a v5-encoded CONNACK with reason 0x84 "Unsupported Protocol Version" and no properties (MQTT 5 §3.2.2.2), which
 *   an MQTT 5 client reports as exactly that. (Levels other than 3, 4 and 5 never get here: aedes' packet parser
 *   refuses them and closes the connection.)
 * - A zero-byte client id with CleanSession = 0: CONNACK 0x02 "Identifier rejected" [MQTT-3.1.3-8] (a session
 *   that nobody could resume). With CleanSession = 1 the broker assigns an id [MQTT-3.1.3-6].
 */

/** Where MQTT 5 devices should connect instead; part of the log line of a refused v5 CONNECT. */
export const MQTT5_SUPPORTED_PATH =
  'the embedded broker speaks MQTT 3.1.1 only; connect MQTT 5 devices through mosquitto (broker.mode: external) or AWS IoT Core';

export interface ConnectRefusal {
  /** CONNACK return code (3.1.1) or reason code (5) sent */
  code: number;
  /** the CONNACK packet, encoded for the client's protocol version */
  connack: Buffer;
  reason: string;
}

export function checkConnect(packet: {
  protocolVersion?: number;
  clientId?: string;
  clean?: boolean;
}): ConnectRefusal | undefined {
  if (packet.protocolVersion === 5) {
    // fixed header 0x20, remaining length 3: acknowledge flags 0, reason 0x84, property length 0
    return {
      code: 0x84,
      connack: Buffer.from([0x20, 0x03, 0x00, 0x84, 0x00]),
      reason: `MQTT 5 CONNECT refused: ${MQTT5_SUPPORTED_PATH}`,
    };
  }
  if (packet.protocolVersion === 3 || packet.protocolVersion === 4) {
    if (!packet.clientId && packet.clean === false) {
      // fixed header 0x20, remaining length 2: session present 0, return code 0x02
      return {
        code: 0x02,
        connack: Buffer.from([0x20, 0x02, 0x00, 0x02]),
        reason: 'CONNECT with an empty client id and CleanSession=0 refused (identifier rejected, MQTT-3.1.3-8)',
      };
    }
  }
  return undefined;
}
