/**
 * SageMakerFeatureStore: the FeatureStore on Amazon SageMaker Feature Store's online store
 * (@aws-sdk/client-sagemaker-featurestore-runtime: PutRecord, GetRecord, BatchGetRecord).
 *
 * Mapping: a FeatureRecord becomes a SageMaker record whose record identifier feature (default `entity_id`)
 * holds entityId and whose event time feature (default `event_time`) holds eventTime as ISO-8601 with
 * milliseconds (or fractional seconds, `eventTimeFormat: 'seconds'`); every value travels as ValueAsString.
 * Reading back, a value becomes a number when the group's `featureTypes` says Integral/Fractional, a string when
 * it says String, and otherwise a number exactly when it is a canonical JS number string ("42", "1.5") — so
 * declare String for string features that can look numeric. `model_version_*` features are String by default.
 *
 * SageMaker keeps the record with the latest EventTime in the online store and silently keeps the older one out;
 * PutRecord does not say which happened. To report `written`, putMany first reads the stored event times with one
 * BatchGetRecord (`checkStaleWrites`, default true) — the record is sent either way (the offline store keeps
 * history). TTL: with `ttlMs` set for a group, PutRecord carries TtlDuration (SageMaker then expires the record at
 * EventTime + TTL) and reads also check eventTime + ttl against the clock.
 */
import {
  BatchGetRecordCommand,
  GetRecordCommand,
  PutRecordCommand,
  SageMakerFeatureStoreRuntimeClient,
  type BatchGetRecordCommandOutput,
  type FeatureValue as WireFeatureValue,
  type GetRecordCommandOutput,
  type SageMakerFeatureStoreRuntimeClientConfig,
} from '@aws-sdk/client-sagemaker-featurestore-runtime';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FeatureRecord, FeatureStore, FeatureValue, PutOutcome } from './feature-store.ts';
import { checkEntityId, checkFeatureName, checkFeatureNames, checkGroup, checkRecord } from './feature-record-check.ts';
import { z } from 'zod';
import { assertKnownEntryKeys, clockAndLogger, numberOrInfinity, parseOptions } from '../../lib/options.ts';
import { awsClientConfig } from '../stream/options.ts';

export type SageMakerFeatureType = 'String' | 'Integral' | 'Fractional';

/** The subset of the SDK client used here. */
export interface SageMakerFsLike {
  send(command: unknown): Promise<unknown>;
  destroy?(): void;
}

const FEATURE_TYPES = ['String', 'Integral', 'Fractional'] as const;
const eventTimeFormat = z.enum(['iso', 'seconds']);

export const SageMakerGroupOptionsSchema = z.strictObject({
  /** default: the store's recordIdentifierName */
  recordIdentifierName: z.string().min(1).optional(),
  /** default: the store's eventTimeName */
  eventTimeName: z.string().min(1).optional(),
  /** default: the store's eventTimeFormat */
  eventTimeFormat: eventTimeFormat.optional(),
  /** TTL, ms: sent as TtlDuration on PutRecord and checked on reads; default defaultTtlMs */
  ttlMs: numberOrInfinity(1000).optional(),
  /** feature name → type, for decoding values read back */
  featureTypes: z.record(z.string(), z.enum(FEATURE_TYPES)).optional(),
});

export const SageMakerFeatureStoreOptionsSchema = z.strictObject({
  /** a client to use (not destroyed on close); default one built from clientConfig */
  client: z
    .custom<SageMakerFsLike>((v) => typeof (v as SageMakerFsLike | null)?.send === 'function', {
      error: 'expected an object with send()',
    })
    .optional(),
  clientConfig: z.custom<SageMakerFeatureStoreRuntimeClientConfig>().optional(),
  /** shorthand for clientConfig.region */
  region: z.string().min(1).optional(),
  /** shorthand for clientConfig.endpoint; a plain-HTTP endpoint gets an HTTP/1.1 handler */
  endpoint: z.string().min(1).optional(),
  groups: z.record(z.string(), SageMakerGroupOptionsSchema.optional()).optional(),
  recordIdentifierName: z.string().min(1).default('entity_id'),
  eventTimeName: z.string().min(1).default('event_time'),
  /** iso: yyyy-MM-dd'T'HH:mm:ss.SSSZ; seconds: fractional seconds since the epoch */
  eventTimeFormat: eventTimeFormat.default('iso'),
  /** TTL for groups without their own, ms; Infinity: no TTL */
  defaultTtlMs: numberOrInfinity(1000).default(Infinity),
  /** read stored event times before puts to report `written` (one BatchGetRecord per putMany) */
  checkStaleWrites: z.boolean().default(true),
  /** PutRecord calls in flight per putMany */
  concurrency: z.number().int().min(1).max(256).default(8),
  clock: clockAndLogger.clock,
});

export type SageMakerGroupOptions = z.input<typeof SageMakerGroupOptionsSchema>;
export type SageMakerFeatureStoreOptions = z.input<typeof SageMakerFeatureStoreOptionsSchema>;

const C = 'SageMakerFeatureStore';
const BATCH_GET_MAX = 100;

interface Group {
  id: string;
  time: string;
  format: 'iso' | 'seconds';
  ttlMs: number;
  types: Record<string, SageMakerFeatureType>;
}

function canonicalNumber(s: string): boolean {
  if (s.trim() !== s || s === '') return false;
  const n = Number(s);
  return Number.isFinite(n) && String(n) === s;
}

function errName(err: unknown): string {
  return (err as { name?: string })?.name ?? '';
}

export class SageMakerFeatureStore implements FeatureStore {
  readonly #clientConfig: SageMakerFeatureStoreRuntimeClientConfig;
  #client: SageMakerFsLike | undefined;
  readonly #ownsClient: boolean;
  readonly #groups = new Map<string, Group>();
  readonly #defaults: Omit<Group, 'types'>;
  readonly #checkStale: boolean;
  readonly #concurrency: number;
  readonly #clock: Clock;
  #state: 'new' | 'started' | 'closed' = 'new';

  constructor(opts: SageMakerFeatureStoreOptions = {}) {
    assertKnownEntryKeys(SageMakerGroupOptionsSchema, opts?.groups, C, ['groups']);
    const o = parseOptions(SageMakerFeatureStoreOptionsSchema, opts, { where: C });
    this.#client = o.client;
    this.#ownsClient = o.client === undefined;
    this.#clientConfig = awsClientConfig(o);
    this.#defaults = {
      id: o.recordIdentifierName,
      time: o.eventTimeName,
      format: o.eventTimeFormat,
      ttlMs: o.defaultTtlMs,
    };
    for (const [name, g] of Object.entries(o.groups ?? {})) {
      checkGroup(name);
      const types = g?.featureTypes ?? {};
      for (const f of Object.keys(types)) checkFeatureName(f, `groups.${name}.featureTypes`);
      this.#groups.set(name, {
        id: g?.recordIdentifierName ?? this.#defaults.id,
        time: g?.eventTimeName ?? this.#defaults.time,
        format: g?.eventTimeFormat ?? this.#defaults.format,
        ttlMs: g?.ttlMs ?? this.#defaults.ttlMs,
        types: { ...types },
      });
    }
    this.#checkStale = o.checkStaleWrites;
    this.#concurrency = o.concurrency;
    this.#clock = o.clock ?? systemClock;
  }

  async start(): Promise<void> {
    if (this.#state === 'started') return;
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `${C} is closed`);
    this.#client ??= new SageMakerFeatureStoreRuntimeClient(this.#clientConfig);
    this.#state = 'started';
  }

  #ready(): SageMakerFsLike {
    if (this.#state === 'closed') throw new EdgeloopError('EL_ERR_CLOSED', `${C} is closed`);
    if (this.#state !== 'started' || !this.#client)
      throw new EdgeloopError('EL_ERR_FEATURE_STORE_NOT_STARTED', `${C}: call start() first`);
    return this.#client;
  }

  #group(name: string): Group {
    checkGroup(name);
    let g = this.#groups.get(name);
    if (!g) {
      g = { ...this.#defaults, types: {} };
      this.#groups.set(name, g);
    }
    return g;
  }

  #error(op: string, group: string, err: unknown): EdgeloopError {
    const name = errName(err);
    const msg = (err as Error)?.message ?? String(err);
    if (name === 'ResourceNotFound')
      return new EdgeloopError('EL_ERR_FEATURE_GROUP_NOT_FOUND', `${op}: feature group ${group}: ${msg}`, {
        cause: err,
      });
    if (name === 'ValidationError')
      return new EdgeloopError('EL_ERR_FEATURE_RECORD_INVALID', `${op} on ${group} refused: ${msg}`, { cause: err });
    return new EdgeloopError('EL_ERR_FEATURE_STORE_BACKEND', `${op} on ${group} failed: ${name} ${msg}`.trim(), {
      cause: err,
    });
  }

  #encodeTime(g: Group, ms: number): string {
    return g.format === 'iso' ? new Date(ms).toISOString() : (ms / 1000).toFixed(3);
  }

  #decodeTime(s: string | undefined): number | undefined {
    if (s === undefined) return undefined;
    if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
    const t = Date.parse(s);
    return Number.isFinite(t) ? t : undefined;
  }

  #decodeValue(g: Group, name: string, s: string): FeatureValue {
    const t = g.types[name] ?? (name.startsWith('model_version_') ? 'String' : undefined);
    if (t === 'String') return s;
    if (t === 'Integral' || t === 'Fractional') return Number(s);
    return canonicalNumber(s) ? Number(s) : s;
  }

  #decode(
    g: Group,
    wire: WireFeatureValue[] | undefined,
    entityId: string,
    names: string[] | undefined,
    expiresAt?: string,
  ): FeatureRecord | undefined {
    if (!wire || wire.length === 0) return undefined;
    const now = this.#clock.now();
    const exp = this.#decodeTime(expiresAt);
    if (exp !== undefined && exp <= now) return undefined;
    let eventTime: number | undefined;
    const features: Record<string, FeatureValue> = {};
    for (const f of wire) {
      if (f.FeatureName === g.time) eventTime = this.#decodeTime(f.ValueAsString);
      if (
        f.FeatureName === g.id ||
        f.FeatureName === g.time ||
        f.FeatureName === undefined ||
        f.ValueAsString === undefined
      )
        continue;
      if (names && !names.includes(f.FeatureName)) continue;
      features[f.FeatureName] = this.#decodeValue(g, f.FeatureName, f.ValueAsString);
    }
    if (eventTime === undefined) return undefined;
    if (eventTime + g.ttlMs <= now) return undefined;
    return { entityId, eventTime, features };
  }

  /** names to request: the asked-for features plus the event time (needed for TTL and the record's eventTime) */
  #wireNames(g: Group, names: string[] | undefined): string[] | undefined {
    return names === undefined ? undefined : [...new Set([...names, g.time])];
  }

  async get(group: string, entityId: string, featureNames?: string[]): Promise<FeatureRecord | undefined> {
    const client = this.#ready();
    const g = this.#group(group);
    checkEntityId(entityId, 'get()');
    checkFeatureNames(featureNames, 'get()');
    let out: GetRecordCommandOutput;
    try {
      out = (await client.send(
        new GetRecordCommand({
          FeatureGroupName: group,
          RecordIdentifierValueAsString: entityId,
          FeatureNames: this.#wireNames(g, featureNames),
          ExpirationTimeResponse: 'Enabled',
        }),
      )) as GetRecordCommandOutput;
    } catch (err) {
      throw this.#error('GetRecord', group, err);
    }
    return this.#decode(g, out.Record, entityId, featureNames, out.ExpiresAt);
  }

  async batchGet(group: string, entityIds: string[], featureNames?: string[]): Promise<(FeatureRecord | undefined)[]> {
    const client = this.#ready();
    const g = this.#group(group);
    if (!Array.isArray(entityIds))
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'batchGet(): entityIds must be an array');
    entityIds.forEach((id, i) => checkEntityId(id, `batchGet() entityIds[${i}]`));
    checkFeatureNames(featureNames, 'batchGet()');
    const unique = [...new Set(entityIds)];
    const found = new Map<string, FeatureRecord>();
    for (let i = 0; i < unique.length; i += BATCH_GET_MAX) {
      const ids = unique.slice(i, i + BATCH_GET_MAX);
      let out: BatchGetRecordCommandOutput;
      try {
        out = (await client.send(
          new BatchGetRecordCommand({
            Identifiers: [
              {
                FeatureGroupName: group,
                RecordIdentifiersValueAsString: ids,
                FeatureNames: this.#wireNames(g, featureNames),
              },
            ],
            ExpirationTimeResponse: 'Enabled',
          }),
        )) as BatchGetRecordCommandOutput;
      } catch (err) {
        throw this.#error('BatchGetRecord', group, err);
      }
      const firstError = out.Errors?.[0];
      if (firstError) {
        throw this.#error(
          'BatchGetRecord',
          group,
          Object.assign(new Error(firstError.ErrorMessage ?? ''), {
            name: firstError.ErrorCode ?? 'BatchGetRecordError',
          }),
        );
      }
      if ((out.UnprocessedIdentifiers?.length ?? 0) > 0) {
        throw new EdgeloopError(
          'EL_ERR_FEATURE_STORE_BACKEND',
          `BatchGetRecord on ${group}: some identifiers were not processed (throttled); retry`,
        );
      }
      for (const r of out.Records ?? []) {
        const id = r.RecordIdentifierValueAsString ?? '';
        const rec = this.#decode(g, r.Record, id, featureNames, r.ExpiresAt);
        if (rec) found.set(id, rec);
      }
    }
    return entityIds.map((id) => found.get(id));
  }

  async put(group: string, record: FeatureRecord): Promise<PutOutcome> {
    const [out] = await this.putMany(group, [record]);
    return out!;
  }

  async putMany(group: string, records: FeatureRecord[]): Promise<PutOutcome[]> {
    const client = this.#ready();
    const g = this.#group(group);
    if (!Array.isArray(records))
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'putMany(): records must be an array');
    const checked = records.map((r, i) => checkRecord(r, `records[${i}]`, [g.id, g.time]));
    if (records.length === 0) return [];
    // newest event time per entity: what SageMaker holds now, then what this batch has put
    const newest = new Map<string, number>();
    if (this.#checkStale) {
      const ids = [...new Set(records.map((r) => r.entityId))];
      const stored = await this.batchGet(group, ids, []);
      ids.forEach((id, i) => {
        const s = stored[i];
        if (s) newest.set(id, s.eventTime);
      });
    }
    const outcomes: PutOutcome[] = records.map((r) => {
      const cur = newest.get(r.entityId);
      const written = cur === undefined || r.eventTime >= cur;
      if (written) newest.set(r.entityId, r.eventTime);
      return { written };
    });
    // records of one entity go out one after the other, in order; entities in parallel
    const byEntity = new Map<string, number[]>();
    records.forEach((r, i) => {
      const list = byEntity.get(r.entityId) ?? [];
      list.push(i);
      byEntity.set(r.entityId, list);
    });
    const queues = [...byEntity.values()];
    const ttl = Number.isFinite(g.ttlMs)
      ? { Unit: 'Seconds' as const, Value: Math.max(1, Math.ceil(g.ttlMs / 1000)) }
      : undefined;
    const worker = async (): Promise<void> => {
      for (let q = queues.shift(); q; q = queues.shift()) {
        for (const i of q) {
          const r = records[i]!;
          const wire: WireFeatureValue[] = [
            { FeatureName: g.id, ValueAsString: r.entityId },
            { FeatureName: g.time, ValueAsString: this.#encodeTime(g, r.eventTime) },
          ];
          for (const [k, v] of Object.entries(checked[i]!)) wire.push({ FeatureName: k, ValueAsString: String(v) });
          try {
            await client.send(
              new PutRecordCommand({ FeatureGroupName: group, Record: wire, ...(ttl ? { TtlDuration: ttl } : {}) }),
            );
          } catch (err) {
            throw this.#error('PutRecord', group, err);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, queues.length) }, worker));
    return outcomes;
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#ownsClient) this.#client?.destroy?.();
    this.#client = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
