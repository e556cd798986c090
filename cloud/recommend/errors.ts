/** Codes of the recommendation service (cloud/recommend/), and the HTTP status each answers with. */
import type { HttpStatusByCode } from '../http/server.ts';

export const RECOMMEND_ERROR_CODES = {
  EL_ERR_RECOMMEND_NO_FEATURES: 'No feature record exists for the entity (HTTP 404).',
  EL_ERR_RECOMMEND_FEATURES_MISSING:
    "The entity's feature record lacks features the model needs and the manifest declares no default for them (HTTP 422).",
  EL_ERR_RECOMMEND_FEATURES_STALE: "The entity's features are older than the model's maxFeatureAgeMs (HTTP 422).",
  EL_ERR_RECOMMEND_FEATURE_TYPE: 'A feature value is not a finite number (HTTP 422).',
  EL_ERR_RECOMMEND_NO_MODEL: 'No model is loaded for the variant that should answer (HTTP 503).',
  EL_ERR_RECOMMEND_VARIANTS: 'The variants configuration is invalid (weights, names, shadow).',
  EL_ERR_RECOMMEND_MODEL_KIND: 'The model is not a recommender (manifest kind or inputs do not fit).',
} as const;

/** HTTP status for each code the service returns to clients. */
export const RECOMMEND_HTTP_STATUS: HttpStatusByCode = {
  EL_ERR_RECOMMEND_NO_FEATURES: 404,
  EL_ERR_RECOMMEND_FEATURES_MISSING: 422,
  EL_ERR_RECOMMEND_FEATURES_STALE: 422,
  EL_ERR_RECOMMEND_FEATURE_TYPE: 422,
  EL_ERR_MODEL_INPUT: 422,
  EL_ERR_RECOMMEND_NO_MODEL: 503,
};
