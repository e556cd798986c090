/**
 * A local SageMaker Feature Store runtime endpoint (online store only) on a free loopback port, speaking the
 * service's REST-JSON wire format closely enough that the real @aws-sdk/client-sagemaker-featurestore-runtime
 * client works against it:
 *
 *   PUT    /FeatureGroup/{name}                body { Record: [{FeatureName, ValueAsString}], TargetStores?, TtlDuration? }
 *   GET    /FeatureGroup/{name}?RecordIdentifierValueAsString=..&FeatureName=..&ExpirationTimeResponse=Enabled
 *          → { Record, ExpiresAt? }, or {} when there is no (unexpired) record
 *   POST   /BatchGetRecord                     body { Identifiers: [{FeatureGroupName, RecordIdentifiersValueAsString, FeatureNames?}] }
 *          → { Records: [{FeatureGroupName, RecordIdentifierValueAsString, Record, ExpiresAt?}], Errors, UnprocessedIdentifiers }
 *   DELETE /FeatureGroup/{name}?RecordIdentifierValueAsString=..&EventTime=..
 *
 * Errors are `x-amzn-ErrorType: <code>` with a JSON `{ "message" }` body: ResourceNotFound (404) for an unknown
 * feature group, ValidationError (400) for a record without its identifier or event time, an unparsable event time
 * or a value that does not fit an Integral/Fractional feature. The online store keeps, per record identifier, the
 * record with the latest EventTime: a put with an older EventTime is accepted (200) but does not replace it.
 * TTL: ExpiresAt = EventTime + TtlDuration (the put's, else the group's); expired records are not returned.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SageMakerFeatureStoreRuntimeClientConfig } from '@aws-sdk/client-sagemaker-featurestore-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export type FeatureType = 'String' | 'Integral' | 'Fractional';

export interface TestFeatureGroup {
  recordIdentifierName: string;
  eventTimeName: string;
  /** feature definitions; when given, unknown features are refused as SageMaker does */
  features?: Record<string, FeatureType>;
  /** the group's online store TtlDuration, ms */
  ttlMs?: number;
}

interface FeatureValueWire {
  FeatureName: string;
  ValueAsString?: string;
}

interface StoredRecord {
  record: FeatureValueWire[];
  eventTime: number;
  expiresAt: number | undefined;
}

export interface TestSageMakerFs {
  endpoint: string;
  clientConfig: SageMakerFeatureStoreRuntimeClientConfig;
  createGroup(name: string, def: TestFeatureGroup): void;
  /** requests served, by operation */
  readonly requests: Record<'PutRecord' | 'GetRecord' | 'BatchGetRecord' | 'DeleteRecord', number>;
  close(): Promise<void>;
}

class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  constructor(status: number, type: string, message: string) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

const UNIT_MS: Record<string, number> = {
  Seconds: 1000,
  Minutes: 60_000,
  Hours: 3_600_000,
  Days: 86_400_000,
  Weeks: 604_800_000,
};

/** SageMaker's EventTime formats: ISO-8601 (yyyy-MM-dd'T'HH:mm:ssZ or with .SSS) or fractional seconds. */
function parseEventTime(s: string | undefined): number {
  if (s !== undefined) {
    if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/.test(s)) return Date.parse(s);
  }
  throw new ApiError(
    400,
    'ValidationError',
    `Invalid EventTime value ${JSON.stringify(s)}: expected ISO-8601 (yyyy-MM-dd'T'HH:mm:ss[.SSS]Z) or fractional seconds since the epoch`,
  );
}

export async function startSageMakerFsServer(
  opts: { groups?: Record<string, TestFeatureGroup>; now?: () => number } = {},
): Promise<TestSageMakerFs> {
  const now = opts.now ?? Date.now;
  const groups = new Map<string, TestFeatureGroup>(Object.entries(opts.groups ?? {}));
  const data = new Map<string, Map<string, StoredRecord>>();
  const requests = { PutRecord: 0, GetRecord: 0, BatchGetRecord: 0, DeleteRecord: 0 };

  const group = (name: string): TestFeatureGroup => {
    const g = groups.get(name);
    if (!g)
      throw new ApiError(
        404,
        'ResourceNotFound',
        `Resource Not Found: Amazon SageMaker can't find a feature group with name ${name}`,
      );
    return g;
  };
  const store = (name: string): Map<string, StoredRecord> => {
    let m = data.get(name);
    if (!m) {
      m = new Map();
      data.set(name, m);
    }
    return m;
  };
  const live = (name: string, id: string): StoredRecord | undefined => {
    const r = data.get(name)?.get(id);
    if (!r) return undefined;
    if (r.expiresAt !== undefined && r.expiresAt <= now()) return undefined;
    return r;
  };
  const project = (r: StoredRecord, names: string[] | undefined): FeatureValueWire[] =>
    names && names.length > 0 ? r.record.filter((f) => names.includes(f.FeatureName)) : r.record;

  function putRecord(
    name: string,
    body: { Record?: FeatureValueWire[]; TtlDuration?: { Unit?: string; Value?: number } },
  ): void {
    const g = group(name);
    const record = body.Record;
    if (!Array.isArray(record) || record.length === 0)
      throw new ApiError(400, 'ValidationError', 'Record must contain at least one feature');
    const seen = new Set<string>();
    for (const f of record) {
      if (typeof f?.FeatureName !== 'string') throw new ApiError(400, 'ValidationError', 'FeatureName is required');
      if (seen.has(f.FeatureName))
        throw new ApiError(400, 'ValidationError', `Duplicate feature ${f.FeatureName} in Record`);
      seen.add(f.FeatureName);
      const type = g.features?.[f.FeatureName];
      if (g.features && !type && f.FeatureName !== g.recordIdentifierName && f.FeatureName !== g.eventTimeName) {
        throw new ApiError(
          400,
          'ValidationError',
          `The feature ${f.FeatureName} is not defined in feature group ${name}`,
        );
      }
      if (
        (type === 'Integral' && !/^-?\d+$/.test(f.ValueAsString ?? '')) ||
        (type === 'Fractional' && !Number.isFinite(Number(f.ValueAsString)))
      ) {
        throw new ApiError(
          400,
          'ValidationError',
          `Value ${JSON.stringify(f.ValueAsString)} of feature ${f.FeatureName} is not of type ${type}`,
        );
      }
    }
    const id = record.find((f) => f.FeatureName === g.recordIdentifierName)?.ValueAsString;
    if (id === undefined || id === '')
      throw new ApiError(
        400,
        'ValidationError',
        `Record is missing the record identifier feature ${g.recordIdentifierName}`,
      );
    const evt = record.find((f) => f.FeatureName === g.eventTimeName);
    if (!evt) throw new ApiError(400, 'ValidationError', `Record is missing the event time feature ${g.eventTimeName}`);
    const eventTime = parseEventTime(evt.ValueAsString);
    let ttl = g.ttlMs;
    if (body.TtlDuration) {
      const unit = UNIT_MS[body.TtlDuration.Unit ?? ''];
      if (!unit || !Number.isInteger(body.TtlDuration.Value) || body.TtlDuration.Value! < 1) {
        throw new ApiError(400, 'ValidationError', `Invalid TtlDuration ${JSON.stringify(body.TtlDuration)}`);
      }
      ttl = unit * body.TtlDuration.Value!;
    }
    const m = store(name);
    const cur = m.get(id);
    // the online store keeps the record with the latest EventTime; an older one is accepted and not applied
    if (cur && eventTime < cur.eventTime) return;
    m.set(id, {
      record: record.map((f) => ({ FeatureName: f.FeatureName, ValueAsString: f.ValueAsString ?? '' })),
      eventTime,
      expiresAt: ttl === undefined ? undefined : eventTime + ttl,
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    const m = /^\/FeatureGroup\/([^/]+)$/.exec(url.pathname);
    const reply = (status: number, payload: unknown): void => {
      const out = JSON.stringify(payload ?? {});
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(out),
        'x-amzn-requestid': `req-${Math.random().toString(16).slice(2)}`,
      });
      res.end(out);
    };
    try {
      if (m && req.method === 'PUT') {
        requests.PutRecord++;
        putRecord(decodeURIComponent(m[1]!), body);
        return reply(200, {});
      }
      if (m && req.method === 'GET') {
        requests.GetRecord++;
        const name = decodeURIComponent(m[1]!);
        group(name);
        const id = url.searchParams.get('RecordIdentifierValueAsString');
        if (id === null) throw new ApiError(400, 'ValidationError', 'RecordIdentifierValueAsString is required');
        const r = live(name, id);
        if (!r) return reply(200, {});
        const withExpiry = url.searchParams.get('ExpirationTimeResponse') === 'Enabled' && r.expiresAt !== undefined;
        return reply(200, {
          Record: project(r, url.searchParams.getAll('FeatureName')),
          ...(withExpiry ? { ExpiresAt: new Date(r.expiresAt!).toISOString() } : {}),
        });
      }
      if (m && req.method === 'DELETE') {
        requests.DeleteRecord++;
        const name = decodeURIComponent(m[1]!);
        group(name);
        const id = url.searchParams.get('RecordIdentifierValueAsString') ?? '';
        const evt = parseEventTime(url.searchParams.get('EventTime') ?? undefined);
        const cur = data.get(name)?.get(id);
        if (cur && evt >= cur.eventTime) data.get(name)!.delete(id);
        return reply(200, {});
      }
      if (url.pathname === '/BatchGetRecord' && req.method === 'POST') {
        requests.BatchGetRecord++;
        const ids = body.Identifiers as
          | { FeatureGroupName: string; RecordIdentifiersValueAsString: string[]; FeatureNames?: string[] }[]
          | undefined;
        if (!Array.isArray(ids) || ids.length === 0)
          throw new ApiError(400, 'ValidationError', 'Identifiers must contain at least one entry');
        const withExpiry = body.ExpirationTimeResponse === 'Enabled';
        const Records: unknown[] = [];
        const Errors: unknown[] = [];
        for (const ident of ids) {
          for (const id of ident.RecordIdentifiersValueAsString ?? []) {
            if (!groups.has(ident.FeatureGroupName)) {
              Errors.push({
                FeatureGroupName: ident.FeatureGroupName,
                RecordIdentifierValueAsString: id,
                ErrorCode: 'ResourceNotFound',
                ErrorMessage: `Feature group ${ident.FeatureGroupName} not found`,
              });
              continue;
            }
            const r = live(ident.FeatureGroupName, id);
            if (!r) continue;
            Records.push({
              FeatureGroupName: ident.FeatureGroupName,
              RecordIdentifierValueAsString: id,
              Record: project(r, ident.FeatureNames),
              ...(withExpiry && r.expiresAt !== undefined ? { ExpiresAt: new Date(r.expiresAt).toISOString() } : {}),
            });
          }
        }
        return reply(200, { Records, Errors, UnprocessedIdentifiers: [] });
      }
      throw new ApiError(
        404,
        'UnknownOperationException',
        `${req.method} ${url.pathname} is not an operation of this endpoint`,
      );
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(500, 'InternalFailure', (err as Error).message);
      const out = JSON.stringify({ message: e.message });
      res.writeHead(e.status, {
        'content-type': 'application/json',
        'x-amzn-errortype': e.type,
        'content-length': Buffer.byteLength(out),
      });
      res.end(out);
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    clientConfig: {
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 2,
    },
    createGroup: (name, def) => void groups.set(name, def),
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
