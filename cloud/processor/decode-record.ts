/**
 * What a stream record may hold, for the processor. The ingest puts one device message per record (the protocol's
 * JSON encoding); the processor also accepts these variants, so other producers (an IoT Core rule, a batch
 * backfill) can write to the same stream:
 *   1. one device message: `{"v":1,"type":"telemetry",...}`
 *   2. a JSON array of device messages: `[{...}, {...}]`
 *   3. newline-delimited JSON, one device message per line
 *   4. an envelope: `{"message": {...}}` or `{"messages": [{...}, ...]}` (other envelope fields are ignored)
 * Messages that fail protocol validation are reported with their reason and skipped; the rest of the record is used.
 */
import { validateDeviceMessage, type DeviceMessage } from '../../protocol/messages.ts';

export interface DecodedRecord {
  messages: DeviceMessage[];
  /** one reason per message (or the whole record) that could not be used */
  errors: string[];
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function collect(value: unknown, out: DecodedRecord, where: string): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => collect(v, out, `${where}[${i}]`));
    return;
  }
  if (typeof value === 'object' && value !== null && !('type' in value)) {
    const env = value as { message?: unknown; messages?: unknown };
    if (env.message !== undefined) return collect(env.message, out, `${where}.message`);
    if (Array.isArray(env.messages)) return collect(env.messages, out, `${where}.messages`);
  }
  try {
    out.messages.push(validateDeviceMessage(value));
  } catch (err) {
    out.errors.push(`${where}: ${(err as Error).message}`);
  }
}

export function decodeRecord(data: Uint8Array): DecodedRecord {
  const out: DecodedRecord = { messages: [], errors: [] };
  let text: string;
  try {
    text = decoder.decode(data);
  } catch {
    out.errors.push('record is not valid UTF-8');
    return out;
  }
  try {
    collect(JSON.parse(text), out, 'record');
    return out;
  } catch {
    // not one JSON document: try newline-delimited JSON
  }
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    try {
      collect(JSON.parse(line), out, `line ${i + 1}`);
    } catch (err) {
      out.errors.push(`line ${i + 1}: not JSON (${(err as Error).message})`);
    }
  }
  if (out.messages.length === 0 && out.errors.length === 0) out.errors.push('record is empty');
  return out;
}
