/** Error codes of the remaining-useful-life model (models/rul). */
export const RUL_ERROR_CODES = {
  EL_ERR_RUL_DATA:
    'A C-MAPSS data or RUL file is malformed (column count, non-numeric value, cycles out of order), or the test and RUL files disagree in unit count.',
  EL_ERR_RUL_PARITY:
    'The exported ONNX RUL model disagrees with the trained TensorFlow.js model beyond the parity tolerance.',
} as const satisfies Record<string, string>;
