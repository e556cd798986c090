/**
 * kinesalite (an in-memory Kinesis implementation) in this process on a free loopback port, for tests of
 * KinesisStream and the Lambda handler. `client()` returns an SDK v3 client set up for it: HTTP/1.1 handler (the
 * default HTTP/2 one fails against kinesalite), a fake region and fake credentials.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  type KinesisClientConfig,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const require = createRequire(import.meta.url);
const kinesalite = require('kinesalite') as (opts: Record<string, unknown>) => Server;

export interface TestKinesis {
  endpoint: string;
  port: number;
  /** SDK config for this endpoint (fake region and credentials, HTTP/1.1) */
  clientConfig: KinesisClientConfig;
  /** a new client; destroy it (or let the KinesisStream that owns it do so) */
  client(): KinesisClient;
  /** create a stream and wait until it is ACTIVE */
  createStream(name: string, shardCount: number): Promise<void>;
  close(): Promise<void>;
}

export async function startKinesalite(): Promise<TestKinesis> {
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  const clientConfig: KinesisClientConfig = {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5000, requestTimeout: 30_000 }),
    maxAttempts: 3,
  };
  const admin = new KinesisClient(clientConfig);
  let closed = false;
  return {
    endpoint,
    port,
    clientConfig,
    client: () => new KinesisClient({ ...clientConfig, requestHandler: new NodeHttpHandler() }),
    async createStream(name, shardCount) {
      await admin.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
      for (let i = 0; i < 200; i++) {
        const d = await admin.send(new DescribeStreamSummaryCommand({ StreamName: name }));
        if (d.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`kinesalite stream ${name} did not become ACTIVE`);
    },
    async close() {
      if (closed) return;
      closed = true;
      admin.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
