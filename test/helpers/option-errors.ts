/**
 * The check every component's options test makes (lib/options.ts): an unknown key is refused with a "did you mean"
 * suggestion and names the key, a bad value names the field; both with the component's error code.
 */
import { expect } from 'vitest';

export function thrown(fn: () => unknown): Error & { code?: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('did not throw');
}

export interface OptionErrorsCase {
  /** builds the component (or parses its options) from an options object */
  build: (opts: Record<string, unknown>) => unknown;
  /** valid options the cases are added to */
  base: Record<string, unknown>;
  code: string;
  /** a misspelled key (with any value), the name it should suggest, and how the message names the key (default the key) */
  unknown: { key: string; value?: unknown; suggests: string; option?: string };
  /** a key with a bad value, and the field the error should name (default the key) */
  bad: { key: string; value: unknown; option?: string };
}

export function expectOptionErrors(c: OptionErrorsCase): void {
  const unknown = thrown(() => c.build({ ...c.base, [c.unknown.key]: c.unknown.value ?? 1 }));
  expect(unknown.code).toBe(c.code);
  expect(unknown.message).toContain(
    `unknown option "${c.unknown.option ?? c.unknown.key}" (did you mean "${c.unknown.suggests}"?)`,
  );
  const bad = thrown(() => c.build({ ...c.base, [c.bad.key]: c.bad.value }));
  expect(bad.code).toBe(c.code);
  const option = c.bad.option ?? c.bad.key;
  expect(bad.details).toMatchObject({ option });
  expect(bad.message).toContain(`${option}: `);
}
