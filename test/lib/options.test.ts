import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseCloudConfig } from '../../cloud/config.ts';
import {
  callback,
  dependency,
  editDistance,
  intOption,
  optionIssues,
  parseOptions,
  schemaDefaults,
  suggest,
  unknownKeyError,
} from '../../lib/options.ts';
import { isEdgeloopError } from '../../protocol/errors.ts';

const Schema = z.strictObject({
  batchSize: z.number().int().min(1).default(500),
  nested: z.strictObject({ retainMs: z.number().min(0).default(10) }).default({ retainMs: 10 }),
});

function thrown(fn: () => unknown): Error & { code?: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('did not throw');
}

describe('lib/options', () => {
  it('measures edits case-insensitively and suggests only a likely misspelling', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('MaxInflight', 'maxInFlight')).toBe(0);
    expect(suggest('batchSise', ['batchSize', 'nested'])).toBe('batchSize');
    expect(suggest('zzzzzz', ['batchSize', 'nested'])).toBeUndefined();
    // a known name the given one starts with
    expect(suggest('keepAlive', ['keepaliveSeconds'])).toBe('keepaliveSeconds');
  });

  it('applies the schema defaults in one place', () => {
    expect(parseOptions(Schema, {}, { where: 'Thing' })).toEqual({ batchSize: 500, nested: { retainMs: 10 } });
  });

  it('refuses an unknown key at any depth with a suggestion, naming the component and the field', () => {
    const top = thrown(() => parseOptions(Schema, { batchSise: 3 }, { where: 'Thing' }));
    expect(top.message).toBe(
      'Thing: unknown option "batchSise" (did you mean "batchSize"?); known options: batchSize, nested',
    );
    expect(isEdgeloopError(top, 'EL_ERR_CONFIG_INVALID')).toBe(true);
    expect(top.details).toMatchObject({ component: 'Thing', option: 'batchSise' });
    const deep = thrown(() => parseOptions(Schema, { nested: { retainMS: 1 } }, { where: 'Thing' }));
    expect(deep.message).toMatch(/^Thing: unknown option "nested.retainMS" \(did you mean "nested.retainMs"\?\)/);
  });

  it('names the field path and what was wrong, with the component code when given', () => {
    const err = thrown(() =>
      parseOptions(Schema, { batchSize: 'x' }, { where: 'ingest', code: 'EL_ERR_INVALID_ARGUMENT' }),
    );
    expect(err.message).toMatch(/^ingest: batchSize: Invalid input: expected number, received string$/);
    expect(err.code).toBe('EL_ERR_INVALID_ARGUMENT');
    expect(err.details).toMatchObject({ option: 'batchSize' });
    expect(thrown(() => parseOptions(Schema, 3, { where: 'Thing' })).message).toBe('Thing: options must be an object');
  });

  it('accepts injected keys beside the schema without passing them to it', () => {
    const clock = { now: () => 0 };
    expect(parseOptions(Schema, { clock }, { where: 'Thing', injected: ['clock'] })).toEqual({
      batchSize: 500,
      nested: { retainMs: 10 },
    });
  });

  it('adds the suggestion to zod unrecognized-key issues (config files)', () => {
    const r = Schema.safeParse({ nested: { retainMz: 1 } });
    expect(r.success).toBe(false);
    expect(optionIssues(Schema, r.error!.issues)).toEqual([
      'nested: Unrecognized key: "retainMz" (did you mean "nested.retainMs"?)',
    ]);
  });

  it('checks a method argument with the same error shape', () => {
    expect(thrown(() => intOption('LocalStream', 'shardCount', 'x', 4, 1)).message).toBe(
      'LocalStream: option "shardCount" must be an integer in [1, ∞], got "x"',
    );
  });

  it('is what the cloud config uses, section by section', () => {
    expect(parseCloudConfig({}).ingest.maxBatchRecords).toBe(500);
    const err = thrown(() => parseCloudConfig({ ingest: { maxBatchRecord: 5 } } as never));
    expect(err.message).toMatch(
      /^cloud config: unknown option "ingest.maxBatchRecord" \(did you mean "ingest.maxBatchRecords"\?\)/,
    );
    expect(thrown(() => parseCloudConfig({ ingest: { maxBatchRecords: 0 } })).message).toMatch(
      /^cloud config: ingest.maxBatchRecords: Too small/,
    );
  });
});

describe('lib/options: sections, injected parts, defaults', () => {
  it('names the fields of a config section under its prefix, the suggestion too', () => {
    const err = thrown(() =>
      parseOptions(Schema, { nested: { retainMz: 1 } }, { where: 'cloud.yaml', prefix: ['part'] }),
    );
    expect(err.message).toMatch(
      /^cloud\.yaml: unknown option "part\.nested\.retainMz" \(did you mean "part\.nested\.retainMs"\?\)/,
    );
    expect(
      thrown(() => parseOptions(Schema, { batchSize: 0 }, { where: 'x', prefix: ['part'] })).details,
    ).toMatchObject({
      option: 'part.batchSize',
    });
  });

  it('keeps injected parts in the schema: passed unchanged, a missing one named', () => {
    const S = z.strictObject({
      clock: dependency<{ now(): number }>('a Clock'),
      onEvent: callback<() => void>().optional(),
    });
    const clock = { now: () => 1 };
    expect(parseOptions(S, { clock }, { where: 'T' }).clock).toBe(clock);
    expect(thrown(() => parseOptions(S, {}, { where: 'T' })).message).toBe('T: clock: required (a Clock)');
    expect(thrown(() => parseOptions(S, { clock, onEvent: 1 }, { where: 'T' })).message).toBe(
      'T: onEvent: expected a function',
    );
  });

  it('lists a schema’s defaults by field path, and words unknown keys of a file as fields', () => {
    expect(schemaDefaults(Schema)).toEqual({ batchSize: 500, 'nested.retainMs': 10 });
    expect(
      unknownKeyError('transport', 'keepAlive', ['keepaliveSeconds'], { noun: 'field', list: 'none' }).message,
    ).toBe('transport: unknown field "keepAlive" (did you mean "keepaliveSeconds"?)');
  });
});
