/**
 * The warehouse reports API's OpenAPI 3.1 document and the JSON schemas the server validates requests and
 * serialises answers with: one source, so what `/openapi.json` publishes is what the routes enforce.
 */
import { errorComponents, errorResponse, jsonResponse } from '../http/openapi.ts';

/** Longest path segment the router accepts (decoded); longer ones answer 414 before any schema runs. */
export const MAX_PATH_SEGMENT = 512;

/** a device id as the protocol allows it (protocol/topics.ts): 1-128 characters of [A-Za-z0-9._:-] */
export const deviceIdSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$',
} as const;
export const siteSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  description: "a site as devices report it ('(unknown)' for devices without one)",
} as const;

/** latest time a JavaScript Date can hold (ms since the epoch) */
const MAX_TIME = 8_640_000_000_000_000;
/** A time: ms since the epoch, or an ISO 8601 date or date-time (`2026-12-01`, `2026-12-01T08:00:00Z`). */
export const timeSchema = {
  anyOf: [
    { type: 'integer', minimum: 0, maximum: MAX_TIME },
    {
      type: 'string',
      pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,3})?)?(Z|[+-]\\d{2}:\\d{2})?)?$',
    },
  ],
  description: 'ms since the epoch, or an ISO 8601 date or date-time (UTC unless it names an offset)',
} as const;

const str = { type: 'string' } as const;
const strOrNull = { type: ['string', 'null'] } as const;
const count = { type: 'integer', minimum: 0 } as const;
const countOrNull = { type: ['integer', 'null'], minimum: 0 } as const;
const ratio = { type: ['number', 'null'], minimum: 0 } as const;
const instant = { type: 'string', description: 'ISO 8601, UTC' } as const;
const instantOrNull = { type: ['string', 'null'], description: 'ISO 8601, UTC' } as const;

function rows(required: string[], properties: Record<string, unknown>): Record<string, unknown> {
  return { type: 'array', items: { type: 'object', required, properties, additionalProperties: false } };
}

const ROWS = {
  'fleet-health': rows(
    [
      'device_id',
      'site',
      'model_name',
      'model_version',
      'agent_version',
      'readings',
      'anomalies',
      'anomaly_rate',
      'uptime',
      'completeness',
      'last_reading',
    ],
    {
      device_id: str,
      site: strOrNull,
      model_name: strOrNull,
      model_version: strOrNull,
      agent_version: strOrNull,
      readings: { ...countOrNull, description: 'in the last 24 hours of the warehouse (up to its newest hour)' },
      anomalies: countOrNull,
      anomaly_rate: ratio,
      uptime: ratio,
      completeness: ratio,
      last_reading: instantOrNull,
    },
  ),
  'device-history': rows(
    [
      'version',
      'site',
      'hardware',
      'agent_version',
      'model_name',
      'model_version',
      'config_hash',
      'valid_from',
      'valid_to',
      'is_current',
    ],
    {
      version: { type: 'integer', minimum: 1 },
      site: strOrNull,
      hardware: strOrNull,
      agent_version: strOrNull,
      model_name: strOrNull,
      model_version: strOrNull,
      config_hash: strOrNull,
      valid_from: instant,
      valid_to: { ...instantOrNull, description: 'null for the current version' },
      is_current: { type: 'boolean' },
    },
  ),
  'model-impact': rows(['model_name', 'model_version', 'devices', 'readings', 'anomalies', 'anomaly_rate'], {
    model_name: str,
    model_version: str,
    devices: count,
    readings: count,
    anomalies: count,
    anomaly_rate: ratio,
  }),
  'site-trend': rows(['site', 'day', 'devices', 'readings', 'anomalies', 'anomaly_rate', 'uptime', 'completeness'], {
    site: str,
    day: { type: 'string', description: 'UTC day, YYYY-MM-DD' },
    devices: count,
    readings: count,
    anomalies: count,
    anomaly_rate: ratio,
    uptime: ratio,
    completeness: ratio,
  }),
} as const;

export type ReportRoute = keyof typeof ROWS;

/** The 200 body of a report: its name and its rows. */
export function reportSchema(name: ReportRoute): Record<string, unknown> {
  return {
    type: 'object',
    required: ['report', 'rows'],
    additionalProperties: false,
    properties: { report: { const: name }, rows: ROWS[name] },
  };
}

const json = jsonResponse;
const bad = errorResponse(
  'invalid parameter (wrong type or format, or a parameter the route does not take): EL_ERR_WAREHOUSE_HTTP or EL_ERR_WAREHOUSE_REPORT',
);
const failed = errorResponse('the warehouse query failed (EL_ERR_WAREHOUSE_QUERY)');
const unavailable = errorResponse(
  'the warehouse file cannot be opened (EL_ERR_WAREHOUSE_OPEN: no refresh yet, or a refresh holds its lock; retry) or the server is closing',
);

function report(
  name: ReportRoute,
  summary: string,
  parameters: unknown[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    get: {
      summary,
      operationId: name,
      parameters,
      responses: {
        '200': json(`the ${name} report`, reportSchema(name)),
        '400': bad,
        ...extra,
        '500': failed,
        '503': unavailable,
      },
    },
  };
}

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'edgeloop warehouse reports',
      version: '1',
      description:
        'The named reports of the fleet warehouse (docs/query-the-fleet.md), read from its DuckDB file on a read-only connection.',
    },
    components: errorComponents,
    paths: {
      '/v1/reports/fleet-health': report(
        'fleet-health',
        "Every device's current version and its last 24 hours: readings, anomalies, uptime, completeness",
        [],
      ),
      '/v1/reports/device-history/{deviceId}': report(
        'device-history',
        "A device's versions (SCD Type 2): attributes and validity ranges",
        [{ name: 'deviceId', in: 'path', required: true, schema: deviceIdSchema }],
        {
          '404': errorResponse('the warehouse has no version of the device (EL_ERR_WAREHOUSE_NO_DEVICE)'),
          '414': errorResponse(`a path segment longer than ${MAX_PATH_SEGMENT} characters (EL_ERR_WAREHOUSE_HTTP)`),
        },
      ),
      '/v1/reports/model-impact': report(
        'model-impact',
        'Per model version: devices, readings, anomalies and anomaly rate; each fact counts for the version its device ran then',
        [
          {
            name: 'asOf',
            in: 'query',
            required: false,
            schema: timeSchema,
            description: 'only facts before this time',
          },
        ],
      ),
      '/v1/reports/site-trend': report(
        'site-trend',
        'Per site and UTC day: devices, readings, anomaly rate, uptime, completeness',
        [
          { name: 'site', in: 'query', required: false, schema: siteSchema, description: 'only this site' },
          {
            name: 'from',
            in: 'query',
            required: false,
            schema: timeSchema,
            description: 'only days from the UTC day of this time',
          },
          {
            name: 'to',
            in: 'query',
            required: false,
            schema: timeSchema,
            description: 'only days up to the UTC day of this time (included)',
          },
        ],
      ),
      '/healthz': {
        get: {
          summary: 'Liveness: the warehouse answers a query',
          responses: {
            '200': json('the warehouse answers', {
              type: 'object',
              required: ['ok'],
              properties: { ok: { const: true }, refreshedAt: instantOrNull },
            }),
            '503': json('the warehouse does not answer', {
              type: 'object',
              required: ['ok'],
              properties: { ok: { const: false }, error: { type: 'string' } },
            }),
          },
        },
      },
    },
  };
}
