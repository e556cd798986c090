/**
 * The AWS service limits `edgeloop plan` sizes against, with the page each comes from (docs/plan.md lists them).
 * `hard`: no quota increase lifts it (the plan fails); otherwise a default quota (the plan warns).
 */
export const AWS_LIMITS = Object.freeze({
  /** IoT Core: payload of one PUBLISH (hard) */
  iotMaxMessageBytes: 128 * 1024,
  /** IoT Core: messages are metered in 5 KB increments */
  iotMeteringBytes: 5 * 1024,
  /** IoT Core: publishes per second per connection (hard) */
  iotPublishesPerConnection: 100,
  /** IoT Core: concurrent connections per account (default quota, adjustable) */
  iotConcurrentConnections: 500_000,
  /** Kinesis Data Streams: ingress per shard, bytes/s */
  kinesisShardBytesPerSecond: 1024 * 1024,
  /** Kinesis Data Streams: ingress per shard, records/s */
  kinesisShardRecordsPerSecond: 1000,
  /** Kinesis Data Streams: a PUT payload unit */
  kinesisPutPayloadUnitBytes: 25 * 1024,
  /** Lambda: concurrent executions per Region (default quota, adjustable) */
  lambdaConcurrency: 1000,
  /** Lambda: synchronous invocation payload; Kinesis data arrives base64-encoded (×4/3) */
  lambdaPayloadBytes: 6 * 1024 * 1024,
  /** Lambda: MaximumBatchingWindowInSeconds of an event source mapping */
  lambdaMaxBatchingWindowSeconds: 300,
  /** SageMaker Feature Store: a write request unit covers 1 KB */
  featureStoreWruBytes: 1024,
});

export const AWS_LIMIT_SOURCES = Object.freeze({
  iot: 'https://docs.aws.amazon.com/general/latest/gr/iot-core.html#message-broker-limits',
  iotMetering: 'https://aws.amazon.com/iot-core/pricing/additional-details/',
  kinesis: 'https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html',
  lambda: 'https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html',
});
