/** LocalStream's sequence numbers: the row id, as a zero-padded decimal string. Pure. */
import { EdgeloopError } from '../../protocol/errors.ts';

const SEQ_DIGITS = 20;

/** Sequence numbers are zero-padded decimals so they also sort as strings. */
export function formatSeq(id: number): string {
  return String(id).padStart(SEQ_DIGITS, '0');
}

export function parseSeq(s: unknown, what: string): number {
  if (typeof s !== 'string' || !/^\d{1,20}$/.test(s)) {
    throw new EdgeloopError(
      'EL_ERR_STREAM_POSITION_INVALID',
      `${what}: expected a sequence number from this stream, got ${JSON.stringify(s)?.slice(0, 40)}`,
    );
  }
  const n = Number(s);
  if (!Number.isSafeInteger(n)) {
    throw new EdgeloopError('EL_ERR_STREAM_POSITION_INVALID', `${what}: sequence number ${s} is out of range`);
  }
  return n;
}
