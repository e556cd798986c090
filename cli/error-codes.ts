/**
 * The registry of error codes as a type: every `<PART>_ERROR_CODES` table of the tree, merged into
 * protocol/errors.ts's ErrorCodeRegistry, so `ErrorCode` is the union of every registered code and
 * `new EdgeloopError(<a literal no table lists>, …)` is a type error. It lives in cli/ because cli/ is the one layer
 * that may see every part; the declarations are type-only and add nothing at run time. A new part's table is
 * added here (test/errors.test.ts fails on a table this file does not list).
 */
import type { AGENT_ERROR_CODES } from '../agent/errors.ts';
import type { MODEL_UPDATER_ERROR_CODES } from '../agent/model-updater/errors.ts';
import type { CLI_ERROR_CODES } from '../cli/errors.ts';
import type { ARCHIVE_ERROR_CODES } from '../cloud/archive/errors.ts';
import type { BATCH_ERROR_CODES } from '../cloud/batch/errors.ts';
import type { DRIFT_ERROR_CODES } from '../cloud/drift/errors.ts';
import type { CLOUD_ERROR_CODES } from '../cloud/errors.ts';
import type { FEATURE_STORE_ERROR_CODES } from '../cloud/feature-store/errors.ts';
import type { MAINTENANCE_ERROR_CODES } from '../cloud/maintenance/errors.ts';
import type { PLAN_ERROR_CODES } from '../cloud/plan/errors.ts';
import type { PROCESSOR_ERROR_CODES } from '../cloud/processor/errors.ts';
import type { RECOMMEND_ERROR_CODES } from '../cloud/recommend/errors.ts';
import type { REGISTRY_ERROR_CODES } from '../cloud/registry/errors.ts';
import type { RETRAIN_ERROR_CODES } from '../cloud/retrain/errors.ts';
import type { ROLLOUT_ERROR_CODES } from '../cloud/rollout/errors.ts';
import type { STREAM_ERROR_CODES } from '../cloud/stream/errors.ts';
import type { WAREHOUSE_ERROR_CODES } from '../cloud/warehouse/errors.ts';
import type { DEPLOY_ERROR_CODES } from '../deploy/aws/errors.ts';
import type { LIB_ERROR_CODES } from '../lib/errors.ts';
import type { NAB_ERROR_CODES } from '../models/nab/errors.ts';
import type { RECOMMENDER_ERROR_CODES } from '../models/recommender/errors.ts';
import type { RUL_ERROR_CODES } from '../models/rul/errors.ts';
import type { SIMULATOR_ERROR_CODES } from '../simulator/errors.ts';
import type { TRANSPORT_ERROR_CODES } from '../transport/errors.ts';

type Codes<T> = { readonly [K in keyof T]: true };

declare module '../protocol/errors.ts' {
  interface ErrorCodeRegistry
    extends Codes<typeof AGENT_ERROR_CODES>,
      Codes<typeof MODEL_UPDATER_ERROR_CODES>,
      Codes<typeof CLI_ERROR_CODES>,
      Codes<typeof ARCHIVE_ERROR_CODES>,
      Codes<typeof BATCH_ERROR_CODES>,
      Codes<typeof DRIFT_ERROR_CODES>,
      Codes<typeof CLOUD_ERROR_CODES>,
      Codes<typeof FEATURE_STORE_ERROR_CODES>,
      Codes<typeof MAINTENANCE_ERROR_CODES>,
      Codes<typeof PLAN_ERROR_CODES>,
      Codes<typeof PROCESSOR_ERROR_CODES>,
      Codes<typeof RECOMMEND_ERROR_CODES>,
      Codes<typeof REGISTRY_ERROR_CODES>,
      Codes<typeof RETRAIN_ERROR_CODES>,
      Codes<typeof ROLLOUT_ERROR_CODES>,
      Codes<typeof STREAM_ERROR_CODES>,
      Codes<typeof WAREHOUSE_ERROR_CODES>,
      Codes<typeof DEPLOY_ERROR_CODES>,
      Codes<typeof LIB_ERROR_CODES>,
      Codes<typeof NAB_ERROR_CODES>,
      Codes<typeof RECOMMENDER_ERROR_CODES>,
      Codes<typeof RUL_ERROR_CODES>,
      Codes<typeof SIMULATOR_ERROR_CODES>,
      Codes<typeof TRANSPORT_ERROR_CODES> {}
}

export {};
