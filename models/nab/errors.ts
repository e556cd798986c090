/** Error codes of the NAB evaluation (models/nab). */
export const NAB_ERROR_CODES = {
  EL_ERR_NAB_LABELS: 'The NAB label windows file is missing, is not JSON, or has a malformed window.',
  EL_ERR_NAB_PROFILES: 'The NAB profiles file is missing, is not JSON, or a profile lacks its CostMatrix weights.',
  EL_ERR_NAB_DATA_FILE: 'A NAB data file is unreadable, malformed (header, timestamp, value), or has no label entry.',
  EL_ERR_NAB_DETECTOR: 'The requested NAB detector name is not known.',
} as const satisfies Record<string, string>;
