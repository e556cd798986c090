/** Error codes of the stream part (cloud/stream/): LocalStream, KinesisStream and their checkpoint stores. */
export const STREAM_ERROR_CODES = {
  EL_ERR_STREAM_RECORD_INVALID:
    'A stream record has no partition key, a key longer than 256 characters, or data that is not bytes.',
  EL_ERR_STREAM_RECORD_TOO_LARGE: 'A stream record (data + partition key) is over the 1 MiB per-record limit.',
  EL_ERR_STREAM_NOT_STARTED: 'A stream was used before start() resolved.',
  EL_ERR_STREAM_SHARD_UNKNOWN: 'read() or checkpoint() named a shard the stream does not have.',
  EL_ERR_STREAM_POSITION_INVALID: 'A read position or checkpoint sequence number is not one this stream produced.',
  EL_ERR_STREAM_SHARD_COUNT_MISMATCH:
    'A LocalStream file was opened with a different shardCount than it was created with (resharding is not supported).',
  EL_ERR_STREAM_SCHEMA:
    'A LocalStream or checkpoint database has a newer schema version than this edgeloop understands.',
  EL_ERR_STREAM_PUT_FAILED:
    'Some records were still rejected by Kinesis (throttling or internal errors) after every retry.',
  EL_ERR_STREAM_BACKEND: 'The stream backend (Kinesis API) failed a request that is not retried.',
} as const satisfies Record<string, string>;
