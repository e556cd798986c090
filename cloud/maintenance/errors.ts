import type { HttpStatusByCode } from '../http/server.ts';

/** Codes of the maintenance part (cloud/maintenance/): RUL serving and maintenance alerts. */
export const MAINTENANCE_ERROR_CODES = {
  EL_ERR_MAINTENANCE_UNKNOWN_DEVICE: 'No cycle of the device has reached the maintenance part (HTTP 404).',
  EL_ERR_MAINTENANCE_MODEL:
    'The maintenance model does not fit: not a remaining-useful-life model with a window input and rul/p10/p90 outputs, or its file cannot be loaded.',
  EL_ERR_MAINTENANCE_STORE: 'The maintenance alert store could not be opened (path, permissions, newer schema).',
} as const satisfies Record<string, string>;

/** HTTP status for each code the maintenance API answers with. */
export const MAINTENANCE_HTTP_STATUS: HttpStatusByCode = {
  EL_ERR_MAINTENANCE_UNKNOWN_DEVICE: 404,
  EL_ERR_INVALID_ARGUMENT: 400,
  EL_ERR_CLOSED: 503,
};
