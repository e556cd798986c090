/**
 * The maintenance API's OpenAPI 3.1 document and the JSON schemas the server validates requests and serialises
 * answers with: one source, so what `/openapi.json` publishes is what the routes enforce.
 */
import { errorComponents, errorResponse, jsonResponse, metricsPath } from '../http/openapi.ts';

/** Longest path segment the router accepts; longer ones answer 414 before any schema runs. */
export const MAX_PATH_SEGMENT = 512;

export const deviceIdSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$',
} as const;
export const sortSchema = { type: 'string', enum: ['rul', 'p10', 'serviceAt', 'deviceId'], default: 'rul' } as const;
export const limitSchema = { type: 'integer', minimum: 1, maximum: 10_000, default: 100 } as const;
export const alertStateSchema = { type: 'string', enum: ['firing', 'resolved'] } as const;

const num = (description: string) => ({ type: ['number', 'null'], description }) as const;

export const deviceRulSchema = {
  type: 'object',
  required: [
    'deviceId',
    'status',
    'rul',
    'p10',
    'p90',
    'model',
    'lastCycleAt',
    'freshnessMs',
    'cycles',
    'window',
    'cyclesPerHour',
    'suggestedServiceAt',
    'alert',
  ],
  properties: {
    deviceId: { type: 'string' },
    status: { type: 'string', enum: ['ok', 'warming-up'], description: 'warming-up: fewer cycles than the window' },
    rul: num('predicted remaining useful life, cycles'),
    p10: num('10th percentile of the RUL, cycles'),
    p90: num('90th percentile of the RUL, cycles'),
    model: {
      type: 'object',
      required: ['name', 'version'],
      properties: { name: { type: 'string' }, version: { type: 'string' } },
    },
    lastCycleAt: num('device time of the last cycle of the window scored, ms since epoch (freshness)'),
    freshnessMs: num('age of that cycle at answer time, ms'),
    cycles: { type: 'integer', description: 'complete cycles the device has sent' },
    window: { type: 'integer', description: 'cycles the model needs' },
    cyclesPerHour: num("the device's measured cycle rate"),
    suggestedServiceAt: num('when the device is expected to reach its p10 RUL at that rate, ms since epoch'),
    alert: { type: 'boolean', description: 'a maintenance alert is open' },
  },
} as const;

export const alertSchema = {
  type: 'object',
  required: ['id', 'deviceId', 'state', 'at', 'cycles', 'rul', 'p10', 'p90', 'horizon'],
  properties: {
    id: { type: 'integer' },
    deviceId: { type: 'string' },
    state: alertStateSchema,
    at: { type: 'number', description: 'device time of the cycle that changed the state, ms since epoch' },
    cycles: { type: 'integer' },
    rul: { type: 'number' },
    p10: { type: 'number' },
    p90: { type: 'number' },
    horizon: { type: 'number' },
  },
} as const;

export const fleetSchema = {
  type: 'object',
  required: ['devices', 'total', 'horizon'],
  properties: {
    devices: { type: 'array', items: deviceRulSchema },
    total: { type: 'integer' },
    horizon: { type: 'number', description: 'alert horizon, cycles' },
  },
} as const;

const json = jsonResponse;

export function openApiDocument(opts: { metrics?: boolean } = {}): Record<string, unknown> {
  const bad = errorResponse('invalid request (a parameter out of range or not documented)');
  return {
    openapi: '3.1.0',
    info: {
      title: 'edgeloop maintenance',
      version: '1',
      description:
        'Remaining useful life per device from the RUL model on the live per-device sequences, devices by predicted RUL, and maintenance alerts.',
    },
    components: errorComponents,
    paths: {
      '/v1/devices/{deviceId}/rul': {
        get: {
          summary: "A device's remaining useful life with its p10-p90 interval",
          parameters: [{ name: 'deviceId', in: 'path', required: true, schema: deviceIdSchema }],
          responses: {
            '200': json('the newest prediction (or warming-up)', deviceRulSchema),
            '400': bad,
            '404': errorResponse('no cycle of the device has arrived (EL_ERR_MAINTENANCE_UNKNOWN_DEVICE)'),
            '414': errorResponse(`a path segment longer than ${MAX_PATH_SEGMENT} characters`),
          },
        },
      },
      '/v1/maintenance/devices': {
        get: {
          summary: 'Devices by predicted RUL (fleet view), with suggested service times',
          parameters: [
            { name: 'sort', in: 'query', required: false, schema: sortSchema },
            { name: 'limit', in: 'query', required: false, schema: limitSchema },
          ],
          responses: { '200': json('devices, lowest first; warming-up devices last', fleetSchema), '400': bad },
        },
      },
      '/v1/maintenance/alerts': {
        get: {
          summary: 'Maintenance alert events, newest first',
          parameters: [
            { name: 'deviceId', in: 'query', required: false, schema: deviceIdSchema },
            { name: 'state', in: 'query', required: false, schema: alertStateSchema },
            { name: 'limit', in: 'query', required: false, schema: limitSchema },
          ],
          responses: {
            '200': json('alert events', {
              type: 'object',
              required: ['alerts'],
              properties: { alerts: { type: 'array', items: alertSchema } },
            }),
            '400': bad,
          },
        },
      },
      '/healthz': {
        get: {
          summary: 'Liveness and the model served',
          responses: {
            '200': json('serving', {
              type: 'object',
              required: ['ok', 'model'],
              properties: {
                ok: { const: true },
                model: {
                  type: 'object',
                  required: ['name', 'version'],
                  properties: { name: { type: 'string' }, version: { type: 'string' } },
                },
              },
            }),
          },
        },
      },
      ...metricsPath(opts.metrics !== false),
    },
  };
}
