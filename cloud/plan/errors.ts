/** Error codes of the capacity and cost planner (cloud/plan/, `edgeloop plan`). */
export const PLAN_ERROR_CODES = {
  EL_ERR_PLAN_LIMIT:
    'The fleet description breaks a hard AWS limit that no quota increase lifts (IoT Core message size or publishes per connection); the message names the limit and what to change.',
  EL_ERR_PLAN_PRICES: 'The price table is unreadable or malformed (a price without its unit, source or date).',
} as const satisfies Record<string, string>;
