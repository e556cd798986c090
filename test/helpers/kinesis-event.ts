/** Kinesis events exactly as Lambda delivers them from an event source mapping (AWS docs' sample event), for tests. */
import type { KinesisStreamEvent, KinesisStreamRecord } from '../../cloud/lambda/processor-handler.ts';
import { encodeMessage, type DeviceMessage, type TelemetryMessage } from '../../protocol/messages.ts';

let seq = 0;
let kinesisSeq = 49590338271490256608559692538361571095921575989136588898n;

/** A telemetry message of [sensor, ts, value] readings with fresh per-device sequence numbers. */
export function tel(deviceId: string, readings: [string, number, number][]): TelemetryMessage {
  const rs = readings.map(([sensor, ts, value]) => ({ seq: ++seq, sensor, ts, value }));
  return { v: 1, type: 'telemetry', deviceId, seq: rs[0]!.seq, sentAt: readings.at(-1)![1], readings: rs };
}

/** One record of a Kinesis event: a device message as the ingest puts it, or raw bytes (a poison record). */
export function kinesisRecord(msg: DeviceMessage | Buffer, arrivedMs: number): KinesisStreamRecord {
  const sequenceNumber = String(++kinesisSeq);
  const data = Buffer.isBuffer(msg) ? msg : encodeMessage(msg);
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: Buffer.isBuffer(msg) ? 'poison' : msg.deviceId,
      sequenceNumber,
      data: data.toString('base64'),
      approximateArrivalTimestamp: arrivedMs / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `shardId-000000000006:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/lambda-role',
    awsRegion: 'us-east-2',
    eventSourceARN: 'arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream',
  };
}

/** The event, through JSON as Lambda passes it. */
export const kinesisEvent = (records: KinesisStreamRecord[]): KinesisStreamEvent =>
  JSON.parse(JSON.stringify({ Records: records })) as KinesisStreamEvent;
