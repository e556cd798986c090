/** The shipped price table: dated, every price with its unit and source page, a missing price null with why. */
import { describe, expect, it } from 'vitest';
import { FleetSpecSchema } from '../../../cloud/plan/fleet-spec.ts';
import { planFleet } from '../../../cloud/plan/plan.ts';
import { DEFAULT_PRICE_FILE, loadPriceTable, parsePriceTable, PRICE_KEYS } from '../../../cloud/plan/prices.ts';

describe('price table', () => {
  it('the us-east-1 table is dated and sourced', () => {
    const t = loadPriceTable();
    expect(DEFAULT_PRICE_FILE).toMatch(/cloud\/plan\/prices-us-east-1\.json$/);
    expect(t).toMatchObject({ region: 'us-east-1', currency: 'USD', compiled: '2026-12-03' });
    expect(Object.keys(t.prices).sort()).toEqual([...PRICE_KEYS].sort());
    for (const [k, p] of Object.entries(t.prices)) {
      expect(p.source, k).toMatch(/^https:\/\/aws\.amazon\.com\//);
      if (p.usd === null) expect(p.missing, k).toMatch(/not found/);
      else if (p.seenIn === null) expect(p.toConfirm, k).toMatch(/pricing page.*as known on \d{4}-\d{2}-\d{2}/);
      else expect(p.seenIn, k).toMatch(/^https:\/\//);
    }
    expect(t.prices.ec2Hour.instanceType).toBe('m7g.large');
    // every line of the plan is priced; the prices not read from a page say so
    expect(Object.values(t.prices).filter((p) => p.usd === null)).toEqual([]);
    expect(
      Object.entries(t.prices)
        .filter(([, p]) => p.toConfirm !== undefined)
        .map(([k]) => k)
        .sort(),
    ).toEqual(['featureStoreWritesPerMillionWru', 'iotRulesTriggeredPerMillion']);
  });

  it('the plan marks the lines priced with a price to be confirmed', () => {
    const p = planFleet(FleetSpecSchema.parse({ devices: 100 }), loadPriceTable());
    expect(p.aws.unpriced).toEqual([]);
    expect(p.vm.unpriced).toEqual([]);
    const marked = [...p.aws.lines, ...p.vm.lines].filter((l) => l.toConfirm).map((l) => `${l.service} ${l.item}`);
    expect(marked.sort()).toEqual(['Feature Store writes', 'IoT Core rule to Kinesis']);
  });

  it('refuses a null price without a reason, and a price without a unit', () => {
    const good = loadPriceTable();
    const bad = structuredClone(good) as unknown as { prices: Record<string, Record<string, unknown>> };
    bad.prices.kinesisShardHour = { ...bad.prices.kinesisShardHour, usd: null };
    expect(() => parsePriceTable(bad, 't.json')).toThrow(
      expect.objectContaining({
        code: 'EL_ERR_PLAN_PRICES',
        message: expect.stringMatching(/^t\.json: prices\.kinesisShardHour: a null price needs "missing"/),
      }),
    );
    const noUnit = structuredClone(good) as unknown as { prices: Record<string, Record<string, unknown>> };
    delete noUnit.prices.lambdaGbSecond!.unit;
    expect(() => parsePriceTable(noUnit)).toThrow(/prices\.lambdaGbSecond\.unit/);
  });
});
