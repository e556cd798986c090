/**
 * The default data directories, one layout for every command and library default (relative to the working
 * directory). `edgeloop up` puts everything under DATA_ROOT; a standalone `edgeloop cloud`, `dlq`, `features`,
 * `recommend` default to the same cloud directory, so the inspection commands find what `npm start` wrote.
 *
 *   .edgeloop/
 *     cloud/            stream.db, features.db, dlq.db, ingest-dedup.db, offline/, archive/ (edgeloop cloud, up),
 *                       warehouse.duckdb (edgeloop warehouse)
 *       registry/       registry.db, artifacts/ (edgeloop registry serve, up)
 *       rollout/        rollout.db (edgeloop rollout serve)
 *     agent/            outbox.db, models/ (edgeloop agent)
 *     agents/<id>/      the simulated fleet's agents (edgeloop up)
 */
export const DATA_ROOT = '.edgeloop';

export const DEFAULT_DATA_DIRS = {
  root: DATA_ROOT,
  cloud: `${DATA_ROOT}/cloud`,
  registry: `${DATA_ROOT}/cloud/registry`,
  rollout: `${DATA_ROOT}/cloud/rollout`,
  agent: `${DATA_ROOT}/agent`,
} as const;
