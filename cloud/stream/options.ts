/**
 * What the stream and feature-store adapters share about their options: the argument check of `read({ limit })`,
 * and the AWS SDK client config of the Kinesis and SageMaker adapters: its schema fields and the config built from
 * them (the values are checked by each adapter's schema).
 */
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { z } from 'zod';

export { intOption } from '../../lib/options.ts';

/** The `region` / `endpoint` shorthands of an AWS adapter's options schema (`...awsClientFields`). */
export const awsClientFields = {
  /** shorthand for clientConfig.region */
  region: z.string().min(1).optional(),
  /** shorthand for clientConfig.endpoint; a plain-HTTP endpoint gets an HTTP/1.1 handler */
  endpoint: z.string().min(1).optional(),
};

/**
 * An AWS SDK v3 client config from an adapter's options: the `region` / `endpoint` shorthands over `clientConfig`,
 * and an HTTP/1.1 handler for a plain-HTTP endpoint (kinesalite, LocalStack, a local test server), where the SDK's
 * default HTTP/2 handler fails.
 */
export function awsClientConfig<T extends { region?: unknown; endpoint?: unknown; requestHandler?: unknown }>(opts: {
  region?: string | undefined;
  endpoint?: string | undefined;
  clientConfig?: T | undefined;
}): T {
  const config = {
    ...(opts.region !== undefined ? { region: opts.region } : {}),
    ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
    ...opts.clientConfig,
  } as T;
  const ep = config.endpoint;
  if (typeof ep === 'string' && ep.startsWith('http://') && config.requestHandler === undefined) {
    config.requestHandler = new NodeHttpHandler();
  }
  return config;
}
