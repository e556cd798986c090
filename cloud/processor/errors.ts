/** Error codes of the streaming feature processor (cloud/processor/) and its Lambda handler (cloud/lambda/). */
export const PROCESSOR_ERROR_CODES = {
  EL_ERR_PROCESSOR_RULE_INVALID:
    'An alert rule does not parse: expected "<feature> <op> <number>" with op one of > >= < <= == !=.',
  EL_ERR_PROCESSOR_WINDOW_INVALID:
    'A window spec is invalid: size and slide must be positive integers (ms) and size a multiple of slide.',
  EL_ERR_PROCESSOR_RECORD_INVALID:
    'A stream record did not contain a device message the processor understands (the record is counted and skipped).',
} as const satisfies Record<string, string>;
