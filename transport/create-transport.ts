/**
 * Builds a Transport from the agent's config section:
 *
 *   transport:                                  transport:
 *     kind: mqtt                                  kind: aws-iot
 *     url: mqtts://broker.example:8883            endpoint: abc123-ats.iot.eu-west-1.amazonaws.com
 *     tls:                                        certPath: /etc/edgeloop/device.pem.crt
 *       caFile: /etc/edgeloop/ca.pem              keyPath: /etc/edgeloop/private.pem.key
 *       certFile: /etc/edgeloop/device.crt        caPath: /etc/edgeloop/AmazonRootCA1.pem
 *       keyFile: /etc/edgeloop/device.key
 *
 * (the same field names as agent/config.ts)
 *
 * `TransportConfigSchema` is the zod schema the agent's config embeds; `parseTransportConfig` validates with
 * errors that name the field (and suggest the right name for a misspelled one). The implementation module is
 * imported on demand, so an mqtt.js agent never loads the AWS CRT native binding.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { issuesLine } from '../protocol/zod-issues.ts';
import { EdgeloopError } from '../protocol/errors.ts';
import type { TransportStats } from './mqtt-transport.ts';
import { assertKnownKeys, commonShape, suggest } from './transport-options.ts';
import type { Transport } from './transport.ts';

const { will: _will, clientId: _clientId, ...configShape } = commonShape;
void _will;
void _clientId;
/** in a config file the clientId is optional: the agent defaults it to its deviceId (AWS IoT: the thing name) */
const clientId = commonShape.clientId.optional();

export const MqttTransportConfigSchema = z.strictObject({
  kind: z.literal('mqtt'),
  url: z
    .string()
    .refine((u) => /^(mqtts?|wss?):\/\/[^/]+/.test(u), 'expected mqtt://, mqtts://, ws:// or wss:// with a host'),
  protocolVersion: z.union([z.literal(4), z.literal(5)]).optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  tls: z
    .strictObject({
      /** PEM file of the CA that signed the broker certificate (default: Node's trust store) */
      caFile: z.string().min(1).optional(),
      /** PEM client certificate file (mutual TLS) */
      certFile: z.string().min(1).optional(),
      /** PEM private key file of the client certificate */
      keyFile: z.string().min(1).optional(),
      rejectUnauthorized: z.boolean().optional(),
      servername: z.string().optional(),
    })
    .optional(),
  clientId,
  ...configShape,
});

export const AwsIotTransportConfigSchema = z
  .strictObject({
    kind: z.literal('aws-iot'),
    endpoint: z
      .string()
      .min(1)
      .refine((e) => !e.includes('://'), 'a host name without a scheme'),
    port: z.number().int().min(1).max(65_535).optional(),
    certPath: z.string().min(1).optional(),
    keyPath: z.string().min(1).optional(),
    caPath: z.string().min(1).optional(),
    insecurePlaintext: z.boolean().optional(),
    clientId,
    ...configShape,
  })
  .superRefine((o, ctx) => {
    if (o.insecurePlaintext) return;
    if (!o.certPath)
      ctx.addIssue({ code: 'custom', path: ['certPath'], message: 'required: the device certificate (PEM file)' });
    if (!o.keyPath)
      ctx.addIssue({ code: 'custom', path: ['keyPath'], message: 'required: the private key (PEM file)' });
  });

export const TransportConfigSchema = z.discriminatedUnion('kind', [
  MqttTransportConfigSchema,
  AwsIotTransportConfigSchema,
]);
export type TransportConfig = z.infer<typeof TransportConfigSchema>;

/** Validate a transport config; errors name the field: `agent.yaml: transport.endpoint: ...`. */
export function parseTransportConfig(value: unknown, where = 'transport'): TransportConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${where}: expected a mapping with kind: mqtt or kind: aws-iot`);
  }
  const kind = (value as { kind?: unknown }).kind;
  if (kind !== 'mqtt' && kind !== 'aws-iot') {
    const hint = typeof kind === 'string' ? suggest(kind, ['mqtt', 'aws-iot']) : undefined;
    throw new EdgeloopError(
      'EL_ERR_CONFIG_INVALID',
      `${where}.kind: expected "mqtt" or "aws-iot", got ${JSON.stringify(kind)}${hint ? ` (did you mean "${hint}"?)` : ''}`,
    );
  }
  const schema = kind === 'mqtt' ? MqttTransportConfigSchema : AwsIotTransportConfigSchema;
  assertKnownKeys(schema, value, where, { noun: 'field' });
  const r = schema.safeParse(value);
  if (!r.success) {
    const msg = issuesLine(r.error.issues, { prefix: [where] });
    throw new EdgeloopError('EL_ERR_CONFIG_INVALID', msg, { cause: r.error });
  }
  return r.data;
}

/** What the agent adds at run time: identity, last will, injected dependencies. */
export interface TransportRuntime {
  /** MQTT client id when the config has none (the agent passes its deviceId) */
  clientId?: string;
  will?: { topic: string; payload: Uint8Array | string; qos?: 0 | 1; retain?: boolean };
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
}

export type CreatedTransport = Transport & { readonly stats: TransportStats; [Symbol.asyncDispose](): Promise<void> };

function readPem(where: string, field: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new EdgeloopError(
      'EL_ERR_CONFIG_INVALID',
      `${where}.${field}: cannot read ${path}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/** Validate `config` and build the transport (not started: call start()). */
export async function createTransport(
  config: unknown,
  runtime: TransportRuntime = {},
  where = 'transport',
): Promise<CreatedTransport> {
  const c = parseTransportConfig(config, where);
  const id = c.clientId ?? runtime.clientId;
  if (!id)
    throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${where}.clientId: required (or pass the deviceId at run time)`);
  const injected = {
    ...(runtime.clock ? { clock: runtime.clock } : {}),
    ...(runtime.random ? { random: runtime.random } : {}),
    ...(runtime.logger ? { logger: runtime.logger } : {}),
    ...(runtime.will ? { will: runtime.will } : {}),
  };
  if (c.kind === 'mqtt') {
    const { kind: _k, tls: files, clientId: _c, ...rest } = c;
    void _k;
    void _c;
    const tls = files && {
      ...(files.caFile ? { ca: readPem(where, 'tls.caFile', files.caFile)! } : {}),
      ...(files.certFile ? { cert: readPem(where, 'tls.certFile', files.certFile)! } : {}),
      ...(files.keyFile ? { key: readPem(where, 'tls.keyFile', files.keyFile)! } : {}),
      ...(files.rejectUnauthorized !== undefined ? { rejectUnauthorized: files.rejectUnauthorized } : {}),
      ...(files.servername !== undefined ? { servername: files.servername } : {}),
    };
    const { MqttTransport } = await import('./mqtt-transport.ts');
    return new MqttTransport({ ...rest, clientId: id, ...(tls ? { tls } : {}), ...injected });
  }
  const { kind: _k, clientId: _c, certPath, keyPath, caPath, ...rest } = c;
  void _k;
  void _c;
  // read the files now so a wrong path fails at startup naming the field, not inside the SDK
  const pems = {
    ...(certPath ? { cert: readPem(where, 'certPath', certPath)! } : {}),
    ...(keyPath ? { key: readPem(where, 'keyPath', keyPath)! } : {}),
    ...(caPath ? { ca: readPem(where, 'caPath', caPath)! } : {}),
  };
  const { AwsIotTransport } = await import('./aws-iot-transport.ts');
  return new AwsIotTransport({ ...rest, clientId: id, ...pems, ...injected });
}
