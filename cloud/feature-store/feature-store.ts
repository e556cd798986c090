/**
 * FeatureStore: the owned interface for per-entity feature records. The SQLite online store (with a Parquet
 * offline store beside it) is the embedded default; SageMakerFeatureStore the cloud one. Both pass
 * test/cloud/feature-store/feature-store-contract.ts.
 *
 * Semantics (SageMaker-shaped): a record is a flat map of feature name → value for one entity in one feature
 * group, with an event time. put() with an older event time than the stored one does not overwrite it. get()
 * returns nothing for records older than the group's TTL.
 */
export type FeatureValue = number | string | null;

export interface FeatureRecord {
  /** record identifier: the device or machine id */
  entityId: string;
  /** event time of the newest data behind these features, ms */
  eventTime: number;
  features: Record<string, FeatureValue>;
}

export interface PutOutcome {
  /** false when a newer record was already stored (not an error) */
  written: boolean;
}

export interface FeatureStore {
  start(): Promise<void>;
  close(): Promise<void>;
  put(group: string, record: FeatureRecord): Promise<PutOutcome>;
  /** Several records at once (one transaction where the backend allows). */
  putMany(group: string, records: FeatureRecord[]): Promise<PutOutcome[]>;
  /** undefined when absent or expired by TTL; `featureNames` limits the returned features */
  get(group: string, entityId: string, featureNames?: string[]): Promise<FeatureRecord | undefined>;
  /** Same order as `entityIds`, undefined where absent. */
  batchGet(group: string, entityIds: string[], featureNames?: string[]): Promise<(FeatureRecord | undefined)[]>;
}
