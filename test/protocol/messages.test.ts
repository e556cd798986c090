import { describe, expect, it } from 'vitest';
import {
  decodeDeviceMessage,
  encodeMessage,
  MAX_MQTT_PAYLOAD_BYTES,
  type TelemetryMessage,
} from '../../protocol/messages.ts';
import { canonicalJson } from '../../protocol/canonical-json.ts';

const good: TelemetryMessage = {
  v: 1,
  type: 'telemetry',
  deviceId: 'dev-1',
  seq: 10,
  sentAt: 1_700_000_000_000,
  readings: [
    { seq: 10, sensor: 'temp', ts: 1_700_000_000_000, value: 21.5 },
    { seq: 11, sensor: 'temp', ts: 1_700_000_001_000, value: 21.7 },
  ],
};

describe('wire messages', () => {
  it('round-trips a telemetry batch', () => {
    expect(decodeDeviceMessage(encodeMessage(good))).toEqual(good);
  });
  it.each([
    [{ ...good, v: 2 }, /^v: expected schema version 1/],
    [{ ...good, deviceId: 'a/b' }, /^deviceId/],
    [{ ...good, seq: -1 }, /^seq/],
    [{ ...good, readings: [] }, /^readings: expected a non-empty array/],
    [{ ...good, readings: [{ ...good.readings[0], value: 'x' }] }, /^readings\[0\]\.value: expected a finite number/],
    [{ ...good, type: 'nope' }, /^type/],
  ])('names the bad field (%#)', (msg, re) => {
    expect(() => decodeDeviceMessage(Buffer.from(JSON.stringify(msg)))).toThrow(re);
  });
  it('refuses non-JSON, non-UTF-8 and oversized payloads with their codes', () => {
    expect(() => decodeDeviceMessage(Buffer.from('{"v":1'))).toThrow(
      expect.objectContaining({ code: 'EL_ERR_MESSAGE_INVALID' }),
    );
    expect(() => decodeDeviceMessage(Buffer.from([0xff, 0xfe]))).toThrow(/UTF-8/);
    const big = Buffer.alloc(MAX_MQTT_PAYLOAD_BYTES + 1, 32);
    expect(() => decodeDeviceMessage(big)).toThrow(expect.objectContaining({ code: 'EL_ERR_MESSAGE_TOO_LARGE' }));
  });
  it('canonical JSON sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}',
    );
  });
});
