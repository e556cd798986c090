/**
 * The dated price table `edgeloop plan` prices with: data (cloud/plan/prices-us-east-1.json by default), checked on
 * load so every price carries its unit and source, a missing price is an explicit null with the reason, and a price
 * not read from a page (`seenIn` null) says so in `toConfirm`.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { packagePath } from '../../lib/package-root.ts';
import { issuesLine } from '../../protocol/zod-issues.ts';
import { EdgeloopError } from '../../protocol/errors.ts';

const PriceSchema = z
  .strictObject({
    usd: z.number().min(0).nullable(),
    unit: z.string().min(1),
    instanceType: z.string().min(1).optional(),
    source: z.string().url(),
    seenIn: z.string().url().nullable(),
    pageDate: z.string().min(1).nullable(),
    missing: z.string().min(1).optional(),
    /** a list price stated from knowledge of the source page, not read from a copy of a page: check it */
    toConfirm: z.string().min(1).optional(),
  })
  .refine((p) => p.usd !== null || p.missing !== undefined, {
    message: 'a null price needs "missing" (why it is not known)',
  });

export const PRICE_KEYS = [
  'iotConnectivityPerMillionMinutes',
  'iotMessagesPerMillion',
  'iotRulesTriggeredPerMillion',
  'kinesisShardHour',
  'kinesisPutPayloadUnitsPerMillion',
  'lambdaRequestsPerMillion',
  'lambdaGbSecond',
  'featureStoreWritesPerMillionWru',
  's3StandardGbMonth',
  's3PutPerThousand',
  'ec2Hour',
  'ebsGp3GbMonth',
] as const;
export type PriceKey = (typeof PRICE_KEYS)[number];

const PriceTableSchema = z.strictObject({
  region: z.string().min(1),
  currency: z.literal('USD'),
  /** the day the table was put together (YYYY-MM-DD) */
  compiled: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  note: z.string().optional(),
  prices: z.strictObject(
    Object.fromEntries(PRICE_KEYS.map((k) => [k, PriceSchema])) as Record<PriceKey, typeof PriceSchema>,
  ),
});

export type Price = z.output<typeof PriceSchema>;
export type PriceTable = z.output<typeof PriceTableSchema>;

export const DEFAULT_PRICE_FILE = packagePath('cloud', 'plan', 'prices-us-east-1.json');

export function parsePriceTable(input: unknown, source = 'price table'): PriceTable {
  const r = PriceTableSchema.safeParse(input);
  if (!r.success) throw new EdgeloopError('EL_ERR_PLAN_PRICES', `${source}: ${issuesLine(r.error.issues)}`);
  return r.data;
}

export function loadPriceTable(file: string = DEFAULT_PRICE_FILE): PriceTable {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new EdgeloopError(
      'EL_ERR_PLAN_PRICES',
      `${file}: cannot read the price table (${(cause as Error).message})`,
      { cause },
    );
  }
  return parsePriceTable(raw, file);
}
