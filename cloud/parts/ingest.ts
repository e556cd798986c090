import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { definePart } from '../../lib/parts.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { Ingest } from '../ingest/ingest.ts';
import { MqttIngestClient } from '../ingest/mqtt-ingest-client.ts';
import type { CloudContext, CloudPart } from './context.ts';
import { dlqPart } from './dlq.ts';
import { streamPart } from './stream.ts';

/**
 * The ingest: validate, deduplicate and dead-letter device messages into the stream; with an external broker
 * (mosquitto, EMQX, AWS IoT Core through a bridge) also its MQTT subscriber, `client`. Closing stops intake first
 * (unacknowledged messages stay with the broker), then flushes what was accepted.
 */
export const ingestPart = definePart({
  name: 'ingest',
  requires: { dlq: dlqPart, stream: streamPart },
  create: ({ dlq, stream }, ctx: CloudContext): CloudPart<Ingest> & { client: MqttIngestClient | undefined } => {
    const c = ctx.config.ingest;
    const putSeconds = new Histogram({
      name: 'edgeloop_ingest_stream_put_seconds',
      help: 'Latency of Stream.put calls made by the ingest.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [ctx.registry],
    });
    const putRecords = new Histogram({
      name: 'edgeloop_ingest_batch_records',
      help: 'Records per Stream.put.',
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers: [ctx.registry],
    });
    const ingest = new Ingest({
      stream: stream.instance,
      dlq: dlq.instance,
      dedupPath: ctx.paths.dedup,
      topicPrefix: ctx.config.topicPrefix,
      maxPayloadBytes: c.maxPayloadBytes,
      maxBatchRecords: c.maxBatchRecords,
      maxBatchBytes: c.maxBatchBytes,
      lingerMs: c.lingerMs,
      maxInFlightPuts: c.maxInFlightPuts,
      maxPendingRecords: c.maxPendingRecords,
      dedupMaxIntervals: c.dedup.maxIntervals,
      dedupMaxDevices: c.dedup.maxDevices,
      recoverFromStream: c.recoverFromStream ?? ctx.config.stream.kind === 'local',
      timeBounds: { maxFutureMs: c.maxFutureSkewMs ?? Infinity, maxPastMs: c.maxPastAgeMs ?? Infinity },
      clock: ctx.clock,
      logger: ctx.logger.child({ part: 'ingest' }),
      onPut: ({ records, ms }) => {
        putSeconds.observe(ms / 1000);
        putRecords.observe(records);
      },
    });
    registerIngestMetrics(ctx.registry, ingest);
    const ext = ctx.config.broker.mode === 'external' ? ctx.config.broker.external! : undefined;
    const client = ext
      ? new MqttIngestClient({
          url: ext.url,
          username: ext.username,
          password: ext.password,
          clientId: ext.clientId,
          ca: readPem(ext.caFile, 'CA file'),
          cert: readPem(ext.certFile, 'certificate file'),
          key: readPem(ext.keyFile, 'key file'),
          sharedGroup: ext.sharedGroup,
          connections: ext.connections,
          sessionExpirySeconds: ext.sessionExpirySeconds,
          protocolVersion: ext.protocolVersion,
          connectTimeoutMs: ext.connectTimeoutMs,
          topicPrefix: ctx.config.topicPrefix,
          ingest,
          logger: ctx.logger.child({ part: 'ingest-client' }),
        })
      : undefined;
    return {
      name: 'ingest',
      instance: ingest,
      client,
      start: async () => {
        await ingest.start();
        await client?.start();
      },
      close: async () => {
        await client?.close();
        await ingest.close();
      },
      health: () => {
        const s = ingest.stats();
        const cs = client?.stats();
        return {
          ok: !ingest.closed && (!cs || cs.connected === cs.connections),
          pendingRecords: s.pendingRecords,
          readings: s.readings,
          deadLetters: s.deadLetters,
          ...(cs ? { connections: cs.connections, connected: cs.connected } : {}),
        };
      },
    };
  },
});

function readPem(path: string | undefined, what: string): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `cannot read ${what} ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
}

function registerIngestMetrics(registry: Registry, ingest: Ingest): void {
  const metric = (
    Kind: typeof Counter | typeof Gauge,
    name: string,
    help: string,
    pick: (s: ReturnType<Ingest['stats']>) => number,
  ): void => {
    if (Kind === Counter) {
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(pick(ingest.stats()));
        },
      });
    } else {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(pick(ingest.stats()));
        },
      });
    }
  };
  metric(Counter, 'edgeloop_ingest_messages_total', 'MQTT messages seen by the ingest.', (s) => s.messages);
  metric(Counter, 'edgeloop_ingest_readings_total', 'New readings put into the stream.', (s) => s.readings);
  metric(Counter, 'edgeloop_ingest_events_total', 'New events put into the stream.', (s) => s.events);
  metric(
    Counter,
    'edgeloop_ingest_dedup_hits_total',
    'Records dropped as duplicates of (deviceId, seq).',
    (s) => s.duplicateRecords,
  );
  metric(
    Counter,
    'edgeloop_ingest_duplicate_messages_total',
    'Messages whose every record was a duplicate.',
    (s) => s.duplicateMessages,
  );
  metric(Counter, 'edgeloop_ingest_dead_letters_total', 'Messages the ingest sent to the DLQ.', (s) => s.deadLetters);
  metric(Counter, 'edgeloop_ingest_stream_puts_total', 'Successful Stream.put calls.', (s) => s.puts);
  metric(
    Counter,
    'edgeloop_ingest_stream_put_failures_total',
    'Stream.put batches refused after retries.',
    (s) => s.putFailures,
  );
  metric(
    Gauge,
    'edgeloop_ingest_pending_records',
    'Records accepted but not yet in the stream.',
    (s) => s.pendingRecords,
  );
  metric(
    Gauge,
    'edgeloop_ingest_lag_seconds',
    'Ingest time minus the device sentAt of the last telemetry/events message.',
    (s) => s.lastLagMs / 1000,
  );
  metric(Gauge, 'edgeloop_ingest_dedup_devices', 'Devices whose dedup state is in memory.', (s) => s.dedupDevices);
}
