/**
 * Input checks shared by every FeatureStore, so the SQLite and SageMaker stores refuse the same records with the
 * same errors. Names follow SageMaker Feature Store's rule for feature group and feature names.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FeatureRecord, FeatureValue } from './feature-store.ts';

/** SageMaker's FeatureName / FeatureGroupName pattern (1-64 characters). */
export const FEATURE_NAME_PATTERN = /^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$/;
export const MAX_ENTITY_ID_CHARS = 1024;

export function checkGroup(group: unknown): string {
  if (typeof group !== 'string' || !FEATURE_NAME_PATTERN.test(group)) {
    throw new EdgeloopError(
      'EL_ERR_FEATURE_NAME_INVALID',
      `feature group ${JSON.stringify(group)?.slice(0, 80)}: expected 1-64 letters, digits, '-' or '_' starting and ending with a letter or digit`,
      { details: { group } },
    );
  }
  return group;
}

export function checkFeatureName(name: string, where: string): void {
  if (!FEATURE_NAME_PATTERN.test(name) || name.length > 64) {
    throw new EdgeloopError(
      'EL_ERR_FEATURE_NAME_INVALID',
      `${where}: feature name ${JSON.stringify(name).slice(0, 80)} must be 1-64 letters, digits, '-' or '_' starting and ending with a letter or digit`,
      { details: { feature: name } },
    );
  }
}

export function checkEntityId(id: unknown, where: string): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ENTITY_ID_CHARS) {
    throw new EdgeloopError(
      'EL_ERR_FEATURE_RECORD_INVALID',
      `${where}: entityId must be a string of 1-${MAX_ENTITY_ID_CHARS} characters, got ${JSON.stringify(id)?.slice(0, 60)}`,
    );
  }
  return id;
}

/**
 * Validate a record; returns its features without null values (null means "no value": it is not stored, exactly
 * as SageMaker stores no value for an omitted feature).
 */
export function checkRecord(
  record: FeatureRecord,
  where: string,
  reserved: readonly string[] = [],
): Record<string, number | string> {
  if (typeof record !== 'object' || record === null) {
    throw new EdgeloopError('EL_ERR_FEATURE_RECORD_INVALID', `${where}: expected a feature record object`);
  }
  checkEntityId(record.entityId, where);
  if (typeof record.eventTime !== 'number' || !Number.isFinite(record.eventTime) || record.eventTime < 0) {
    throw new EdgeloopError(
      'EL_ERR_FEATURE_RECORD_INVALID',
      `${where}: eventTime must be a non-negative timestamp in ms, got ${JSON.stringify(record.eventTime)}`,
    );
  }
  const f = record.features;
  if (typeof f !== 'object' || f === null || Array.isArray(f)) {
    throw new EdgeloopError('EL_ERR_FEATURE_RECORD_INVALID', `${where}: features must be an object of name → value`);
  }
  const out: Record<string, number | string> = {};
  for (const [name, value] of Object.entries(f) as [string, FeatureValue][]) {
    checkFeatureName(name, where);
    if (reserved.includes(name)) {
      throw new EdgeloopError(
        'EL_ERR_FEATURE_NAME_INVALID',
        `${where}: feature name "${name}" is reserved for the record identifier or event time`,
      );
    }
    if (value === null) continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) {
        throw new EdgeloopError(
          'EL_ERR_FEATURE_RECORD_INVALID',
          `${where}: feature "${name}" must be a finite number, got ${value}`,
        );
      }
    } else if (typeof value !== 'string') {
      throw new EdgeloopError(
        'EL_ERR_FEATURE_RECORD_INVALID',
        `${where}: feature "${name}" must be a number, a string or null, got ${typeof value}`,
      );
    }
    out[name] = value;
  }
  return out;
}

export function checkFeatureNames(names: string[] | undefined, where: string): void {
  if (names === undefined) return;
  if (!Array.isArray(names))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `${where}: featureNames must be an array`);
  for (const n of names) checkFeatureName(n, where);
}

export function pick(
  features: Record<string, FeatureValue>,
  names: string[] | undefined,
): Record<string, FeatureValue> {
  if (names === undefined) return features;
  const out: Record<string, FeatureValue> = {};
  for (const n of names) if (n in features) out[n] = features[n]!;
  return out;
}
