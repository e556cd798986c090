/**
 * The options schemas of the outbox, ingest, ingest client, broker, login limiter, dead-letter store and streams
 * (lib/options.ts): what they refuse beyond the old hand checks, each error naming the component and the option.
 */
import { describe, expect, it } from 'vitest';
import { SqliteOutbox } from '../../agent/outbox/sqlite-outbox.ts';
import { EmbeddedBroker } from '../../cloud/broker/embedded-broker.ts';
import { SqliteDlq } from '../../cloud/dlq/sqlite-dlq.ts';
import { Ingest } from '../../cloud/ingest/ingest.ts';
import { MqttIngestClient } from '../../cloud/ingest/mqtt-ingest-client.ts';
import { KinesisStream } from '../../cloud/stream/kinesis-stream.ts';
import { LocalStream } from '../../cloud/stream/local-stream.ts';
import type { Stream } from '../../cloud/stream/stream.ts';
import { thrown } from '../helpers/option-errors.ts';

const ingest = { accept: async () => 'stored' as const };

describe('component options (lib/options.ts schemas)', () => {
  it('SqliteOutbox: a misspelled option gets a suggestion; a wrong type names the field', () => {
    const unknown = thrown(() => new SqliteOutbox({ path: 'x', seqBlok: 5 } as never));
    expect(unknown).toMatchObject({ code: 'EL_ERR_INVALID_ARGUMENT', details: { option: 'seqBlok' } });
    expect(unknown.message).toMatch(/did you mean "seqBlock"\?/);
    const bad = thrown(() => new SqliteOutbox({ path: 'x', maxBytes: '5' as never }));
    expect(bad).toMatchObject({ code: 'EL_ERR_INVALID_ARGUMENT', details: { option: 'maxBytes' } });
    expect(bad.message).toMatch(/^SqliteOutbox: maxBytes: Invalid input: expected number/);
  });

  it('Ingest: parts, callbacks, the recovery options and the time bounds are checked', () => {
    const base = { stream: {} as Stream, dlq: { add: () => 0 }, dedupPath: ':memory:' };
    expect(thrown(() => new Ingest({ ...base, stream: undefined as never })).message).toMatch(
      /^Ingest: stream: required \(a Stream\)/,
    );
    expect(thrown(() => new Ingest({ ...base, onPut: 'x' as never })).message).toMatch(
      /^Ingest: onPut: expected a function/,
    );
    expect(thrown(() => new Ingest({ ...base, recoverFromStream: 'yes' as never })).message).toMatch(
      /^Ingest: recoverFromStream: Invalid input: expected boolean/,
    );
    expect(thrown(() => new Ingest({ ...base, dedupMaxIntervals: 0 }))).toMatchObject({
      code: 'EL_ERR_INVALID_ARGUMENT',
      details: { option: 'dedupMaxIntervals' },
    });
    const bound = thrown(() => new Ingest({ ...base, timeBounds: { maxFutureMS: 5 } as never }));
    expect(bound.message).toMatch(
      /unknown option "timeBounds.maxFutureMS" \(did you mean "timeBounds.maxFutureMs"\?\)/,
    );
    expect(() => new Ingest({ ...base, timeBounds: { maxFutureMs: Infinity } })).not.toThrow();
  });

  it('MqttIngestClient: the URL, the connection options and the rule between sharedGroup and connections', () => {
    const base = { url: 'mqtt://127.0.0.1:1', ingest };
    expect(thrown(() => new MqttIngestClient({ ...base, url: 'http://x' }))).toMatchObject({
      code: 'EL_ERR_INVALID_ARGUMENT',
      details: { option: 'url' },
    });
    expect(thrown(() => new MqttIngestClient({ ...base, connections: 65 })).message).toMatch(
      /^MqttIngestClient: connections: Too big/,
    );
    expect(thrown(() => new MqttIngestClient({ ...base, protocolVersion: 3 as never })).message).toMatch(
      /^MqttIngestClient: protocolVersion:/,
    );
    expect(thrown(() => new MqttIngestClient({ ...base, clientId: '' })).message).toMatch(
      /^MqttIngestClient: clientId: Too small/,
    );
    expect(thrown(() => new MqttIngestClient({ ...base, sessionExpirySeconds: -1 })).message).toMatch(
      /^MqttIngestClient: sessionExpirySeconds: Too small/,
    );
    expect(thrown(() => new MqttIngestClient({ ...base, sharedGroup: null, connections: 2 }))).toMatchObject({
      code: 'EL_ERR_INVALID_ARGUMENT',
      details: { option: 'connections' },
      message: expect.stringMatching(/connections > 1 needs a sharedGroup/),
    });
    expect(thrown(() => new MqttIngestClient({ ...base, ingest: undefined as never })).message).toMatch(
      /^MqttIngestClient: ingest: required/,
    );
  });

  it('EmbeddedBroker: booleans, the TLS listener and the login limits are checked, with suggestions inside', () => {
    expect(thrown(() => new EmbeddedBroker({ allowAnonymous: 'yes' as never })).message).toMatch(
      /^EmbeddedBroker: allowAnonymous: Invalid input: expected boolean/,
    );
    expect(thrown(() => new EmbeddedBroker({ drainTimeoutMs: -1 })).message).toMatch(
      /^EmbeddedBroker: drainTimeoutMs: Too small/,
    );
    const tls = thrown(() => new EmbeddedBroker({ tls: { cert: 'c', key: 'k', requireClientCerts: true } as never }));
    expect(tls.message).toMatch(/unknown option "tls.requireClientCerts" \(did you mean "tls.requireClientCert"\?\)/);
    expect(thrown(() => new EmbeddedBroker({ tls: { cert: 'c' } as never })).message).toMatch(
      /^EmbeddedBroker: tls.key: required/,
    );
    const limits = thrown(() => new EmbeddedBroker({ loginRateLimit: { windowMS: 5 } as never }));
    expect(limits).toMatchObject({ code: 'EL_ERR_INVALID_ARGUMENT', details: { option: 'loginRateLimit.windowMS' } });
    expect(limits.message).toMatch(/did you mean "loginRateLimit.windowMs"\?/);
    expect(thrown(() => new EmbeddedBroker({ loginRateLimit: { limitLoopback: 1 } as never })).message).toMatch(
      /^EmbeddedBroker: loginRateLimit.limitLoopback: Invalid input: expected boolean/,
    );
    expect(thrown(() => new EmbeddedBroker({ loginRateLimit: true as never })).message).toMatch(
      /^EmbeddedBroker: loginRateLimit: expected false or the login rate limits/,
    );
  });

  it('SqliteDlq: a wrong type and a misspelling', () => {
    expect(thrown(() => new SqliteDlq({ path: ':memory:', readonly: 1 as never })).message).toMatch(
      /^SqliteDlq: readonly: Invalid input: expected boolean/,
    );
    expect(thrown(() => new SqliteDlq({ path: ':memory:', pruneEvry: 3 } as never)).message).toMatch(
      /did you mean "pruneEvery"\?/,
    );
    expect(thrown(() => new SqliteDlq({} as never))).toMatchObject({
      code: 'EL_ERR_INVALID_ARGUMENT',
      details: { option: 'path' },
    });
  });

  it('LocalStream and KinesisStream: Infinity turns a retention bound off; NaN is refused; injected parts are checked', () => {
    expect(() => new LocalStream({ path: ':memory:', retentionMs: Infinity, retentionBytes: Infinity })).not.toThrow();
    expect(thrown(() => new LocalStream({ path: ':memory:', retentionMs: Number.NaN }))).toMatchObject({
      code: 'EL_ERR_CONFIG_INVALID',
      details: { option: 'retentionMs' },
    });
    expect(thrown(() => new KinesisStream({ streamName: 's', client: {} as never })).message).toMatch(
      /^KinesisStream: client: required \(an object with send\(\)\)/,
    );
    expect(thrown(() => new KinesisStream({ streamName: 's', random: 1 as never })).message).toMatch(
      /^KinesisStream: random: expected a function/,
    );
    expect(thrown(() => new KinesisStream({ streamName: 's', region: '' }))).toMatchObject({
      code: 'EL_ERR_CONFIG_INVALID',
      details: { option: 'region' },
    });
  });
});
