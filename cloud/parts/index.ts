/**
 * The cloud's parts, in the order they start when all run. Each is a definition (lib/parts.ts) naming what it
 * needs; `edgeloop cloud --only a,b` picks parts by these names, and their requirements come along.
 *
 *   dlq            SqliteDlq (<dataDir>/dlq.db)
 *   stream         LocalStream (<dataDir>/stream.db) or KinesisStream
 *   feature-store  SqliteFeatureStore (<dataDir>/features.db) or SageMakerFeatureStore
 *   ingest         Ingest (+ its MQTT client on an external broker); needs dlq, stream (and the embedded broker, see ALSO_RUNS)
 *   broker         EmbeddedBroker (broker.mode embedded); ingests inside its publish path when ingest runs
 *   drift          drift monitors (docs/drift.md), when config.drift is set; fed by the processor
 *   maintenance    RUL per device and maintenance alerts (docs/predict-maintenance.md), when config.maintenance is set; fed by the processor
 *   processor      the stream processor (+ the Parquet history when enabled); needs stream, feature-store
 *   archive        the raw Parquet archive (<dataDir>/archive) when archive.enabled (default: local stream); needs stream
 *   reports        the warehouse reports API and page, when config.reports is set (reads <dataDir>/warehouse.duckdb)
 *   batch          the daily batch DAG at batch.schedule (UTC), when set; uses the archive when it runs
 *   registry       the model registry, when config.registry is set
 *   recommend      the recommendation service, when config.recommend is set; needs feature-store
 *   rollout        the rollout controller, when config.rollout is set; uses the broker and registry when they run
 *   retrain        the retraining job (docs/retrain.md), when config.retrain is set; needs registry; on drift.detected
 *   drift-references  the registry's model versions' drift references into the drift monitors, when both run
 *
 * `http` (/healthz, /metrics; `http.enabled`) is added by createCloud after every other part, extra ones included.
 */
import type { PartDefinition } from '../../lib/parts.ts';
import { recommendPartDef } from '../recommend/recommend-part.ts';
import { archivePart } from './archive.ts';
import { batchPart } from './batch.ts';
import { brokerPart } from './broker.ts';
import type { CloudContext } from './context.ts';
import { cloudDriftPart } from './drift.ts';
import { dlqPart } from './dlq.ts';
import { featureStorePart } from './feature-store.ts';
import { ingestPart } from './ingest.ts';
import { maintenancePart } from './maintenance.ts';
import { processorPart } from './processor.ts';
import { registryPart } from './registry.ts';
import { reportsPart } from './reports.ts';
import { retrainPart } from './retrain.ts';
import { driftReferencesPart } from './drift-references.ts';
import { rolloutPart } from './rollout.ts';
import { streamPart } from './stream.ts';

export { httpPart } from './http.ts';
export {
  archivePart,
  batchPart,
  brokerPart,
  cloudDriftPart,
  dlqPart,
  driftReferencesPart,
  featureStorePart,
  ingestPart,
  maintenancePart,
  processorPart,
  registryPart,
  reportsPart,
  retrainPart,
  rolloutPart,
  streamPart,
};
export type { CloudContext, CloudPart } from './context.ts';

/** The recommend part configured by the cloud config's `recommend:` section. */
export const recommendPart = recommendPartDef();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CloudPartDefinition = PartDefinition<string, any, any, CloudContext>;

export const CLOUD_PARTS: readonly CloudPartDefinition[] = [
  dlqPart,
  streamPart,
  featureStorePart,
  ingestPart,
  brokerPart,
  cloudDriftPart,
  maintenancePart,
  processorPart,
  archivePart,
  reportsPart,
  batchPart,
  registryPart,
  recommendPart,
  rolloutPart,
  retrainPart,
  driftReferencesPart,
];

/**
 * Parts that run with another when it is picked by name (`--only ingest`): the ingest's intake is the embedded
 * broker when there is one. Not a requirement: the broker uses the ingest, not the reverse.
 */
export const ALSO_RUNS: ReadonlyMap<CloudPartDefinition, readonly CloudPartDefinition[]> = new Map([
  [ingestPart, [brokerPart]],
]);
