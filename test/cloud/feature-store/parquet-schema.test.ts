import { describe, expect, it } from 'vitest';
import { columnName, EMPTY_SCHEMA, evolveSchema, parseSchema } from '../../../cloud/feature-store/parquet-schema.ts';

const KEYWORDS = new Set(['order', 'select']);

describe('offline group schema', () => {
  it('derives SQL-safe column names without collisions', () => {
    const taken = new Set(['entity_id', 'event_time', 'write_time', 'date']);
    expect(columnName('temp-c_mean_1m', taken, KEYWORDS)).toBe('temp_c_mean_1m');
    expect(columnName('1st', taken, KEYWORDS)).toBe('f_1st');
    expect(columnName('Select', taken, KEYWORDS)).toBe('select_');
    expect(columnName('event-time', taken, KEYWORDS)).toBe('event_time_2');
    expect(columnName('Date', taken, KEYWORDS)).toBe('date_2');
  });

  it('bumps the version only when columns are added or widened, keeping existing names and order', () => {
    const v1 = evolveSchema(EMPTY_SCHEMA, [{ b: 1, 'a-x': 'on' }, { c: 2 }], KEYWORDS);
    expect(v1).toEqual({
      version: 1,
      columns: [
        { name: 'b', feature: 'b', type: 'DOUBLE' },
        { name: 'a_x', feature: 'a-x', type: 'VARCHAR' },
        { name: 'c', feature: 'c', type: 'DOUBLE' },
      ],
    });
    expect(evolveSchema(v1, [{ b: 3, c: 4, 'a-x': 'off' }], KEYWORDS)).toBe(v1);
    // a numeric column that receives a string widens to VARCHAR; a new twin gets a suffix
    const v2 = evolveSchema(v1, [{ c: 'n/a', a_x: 5 }], KEYWORDS);
    expect(v2).toEqual({
      version: 2,
      columns: [
        { name: 'b', feature: 'b', type: 'DOUBLE' },
        { name: 'a_x', feature: 'a-x', type: 'VARCHAR' },
        { name: 'c', feature: 'c', type: 'VARCHAR' },
        { name: 'a_x_2', feature: 'a_x', type: 'DOUBLE' },
      ],
    });
    // a column added in the same flush as a string value of it is VARCHAR from the start
    expect(evolveSchema(EMPTY_SCHEMA, [{ d: 1 }, { d: 'x' }], KEYWORDS).columns).toEqual([
      { name: 'd', feature: 'd', type: 'VARCHAR' },
    ]);
    expect(v1.version).toBe(1);
  });

  it('refuses a malformed stored schema, naming where', () => {
    expect(parseSchema({ version: 1, columns: [{ name: 'ok', feature: 'ok', type: 'DOUBLE' }] }, 'x')).toMatchObject({
      version: 1,
    });
    expect(() =>
      parseSchema({ version: 1, columns: [{ name: 'Bad-Name', feature: 'b', type: 'DOUBLE' }] }, '/d/_commit.json'),
    ).toThrow(/\/d\/_commit.json/);
    expect(() => parseSchema({ version: -1, columns: [] }, 'x')).toThrow(/schema/);
  });
});
