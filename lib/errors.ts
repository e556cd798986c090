/** Codes raised by the shared helpers in lib/ (see protocol/errors.ts for the scheme). */
export const LIB_ERROR_CODES = {
  EL_ERR_PART_START:
    'A part of a process could not be built or started (the message names the part; the cause is attached). The parts started before it were closed again.',
  EL_ERR_PART_CLOSE:
    'A part failed to close (the message names it); the other parts were still closed, in reverse order.',
  EL_ERR_PART_MISSING:
    'A part requires another part that this configuration does not run, or a part was asked for that the system does not have.',
  EL_ERR_PART_CYCLE: 'Parts require each other in a cycle (the message lists it); nothing was started.',
  EL_ERR_PART_DUPLICATE: 'Two different part definitions carry the same name; nothing was started.',
} as const satisfies Record<string, string>;
