/** Error codes of the AI4I maintenance recommender (models/recommender). */
export const RECOMMENDER_ERROR_CODES = {
  EL_ERR_RECOMMENDER_PARITY:
    'The exported ONNX recommender disagrees with the trained TensorFlow.js model beyond the parity tolerance.',
} as const satisfies Record<string, string>;
