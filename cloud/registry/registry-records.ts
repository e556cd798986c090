/** The registry's records as callers see them, and the SQLite row they are read from. Pure. */
import type { Manifest } from '../../protocol/manifest.ts';

export interface ModelVersionRecord {
  name: string;
  version: string;
  /** the manifest exactly as pushed and signed */
  manifest: Manifest;
  sha256: string;
  bytes: number;
  /** keyId of the signature that verified the manifest (undefined when unsigned pushes are allowed) */
  keyId: string | undefined;
  /** evaluation metrics (manifest.metrics) */
  metrics: Record<string, unknown>;
  /** training section of the manifest: data summary, feature distributions */
  training: Record<string, unknown>;
  /** lineage: the version this one was trained from, and the hash of its training data */
  parentVersion: string | undefined;
  dataHash: string | undefined;
  createdAt: string;
  pushedAt: number;
}

export interface AliasRecord {
  name: string;
  alias: string;
  version: string;
  updatedAt: number;
}

export interface AliasEvent {
  name: string;
  alias: string;
  version: string;
  /** version the alias pointed to before, if any */
  previous: string | undefined;
  at: number;
}

export interface ModelSummary {
  name: string;
  versions: number;
  latest: string;
  latestPushedAt: number;
  aliases: Record<string, string>;
}

export interface PushInput {
  manifest: unknown;
  /** the ONNX file's bytes, or a local path to read them from */
  artifact: Uint8Array | { path: string };
  /** lineage overrides (default: manifest.training.parentVersion / dataHash) */
  parentVersion?: string;
  dataHash?: string;
}

export interface PushResult {
  record: ModelVersionRecord;
  /** false when the very same version was pushed before (pushes are idempotent) */
  created: boolean;
}

/** a `versions` row */
export interface Row {
  name: string;
  version: string;
  manifest: string;
  sha256: string;
  bytes: number;
  key_id: string | null;
  parent_version: string | null;
  data_hash: string | null;
  created_at: string;
  pushed_at: number;
}

export function str(x: unknown): string | undefined {
  return typeof x === 'string' && x.length > 0 ? x : undefined;
}

export function toRecord(r: Row): ModelVersionRecord {
  const manifest = JSON.parse(r.manifest) as Manifest;
  return {
    name: r.name,
    version: r.version,
    manifest,
    sha256: r.sha256,
    bytes: r.bytes,
    keyId: r.key_id ?? undefined,
    metrics: (manifest.metrics ?? {}) as Record<string, unknown>,
    training: (manifest.training ?? {}) as Record<string, unknown>,
    parentVersion: r.parent_version ?? undefined,
    dataHash: r.data_hash ?? undefined,
    createdAt: r.created_at,
    pushedAt: r.pushed_at,
  };
}
