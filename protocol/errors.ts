/**
 * One error type with stable codes. Callers match on `err.code`, never on the message.
 * Every code is listed in ERROR_CODES with the component that raises it, and documented in docs/ (a test checks
 * that each code is unique and appears in a docs page).
 *
 * Each part keeps its own codes in `<part>/errors.ts` as `export const <PART>_ERROR_CODES = {...}` (shape
 * `EL_ERR_<PART>_<WHAT>`); test/errors.test.ts collects every such table, checks codes are unique and documented.
 */
export const PROTOCOL_ERROR_CODES = {
  // general
  EL_ERR_CONFIG_INVALID: 'A configuration file, environment override or option failed validation.',
  EL_ERR_CLOSED: 'A component was used after close().',
  EL_ERR_INVALID_ARGUMENT: 'An argument to a function or CLI command was invalid.',
  EL_ERR_TIMEOUT: 'An operation did not finish in its time budget.',
  EL_ERR_INTERNAL:
    'An error without a code of its own reached an API boundary (an HTTP answer names it so): a bug or an unclassified failure; the message says what happened.',
  EL_ERR_NOT_FOUND:
    'An HTTP request named a route the server does not have, or a resource of a server without a code of its own for it (HTTP 404; the message names it).',
  EL_ERR_INSECURE_LISTENER:
    'A listener (MQTT broker, HTTP server) would be reachable from the network without authentication; configure authentication, bind to 127.0.0.1, or set its insecure option.',
  // protocol
  EL_ERR_MESSAGE_INVALID: 'A wire message failed to decode or validate against the protocol schema.',
  EL_ERR_MESSAGE_TOO_LARGE: 'A wire message exceeds the payload limit (128 KiB for MQTT, 1 MiB per stream record).',
  EL_ERR_TOPIC_INVALID: 'A topic does not match the edgeloop topic layout.',
  // models
  EL_ERR_MODEL_MANIFEST_INVALID: 'A model manifest failed schema validation.',
  EL_ERR_MODEL_HASH: 'The model file does not match the sha256 in its manifest (tampered or corrupt file).',
  EL_ERR_MODEL_SIGNATURE:
    'The manifest signature does not verify with its trusted key (manifest changed after signing).',
  EL_ERR_MODEL_UNSIGNED: 'The manifest carries no signature but one is required.',
  EL_ERR_MODEL_UNTRUSTED_KEY:
    'The manifest is signed by a key that is not among the trusted keys (wrong key, or its .pub is not in a trusted directory).',
  EL_ERR_MODEL_PATH: 'The manifest names a model file outside its model directory (absolute path or "..").',
  EL_ERR_MODEL_KEY: 'A signing or verification key could not be read or has the wrong type.',
  EL_ERR_MODEL_TEST_VECTOR: 'The model did not reproduce its manifest test vector within tolerance.',
  EL_ERR_MODEL_LOAD: 'ONNX Runtime could not load the model file.',
  EL_ERR_MODEL_INPUT: 'Input to a model does not fit the manifest (sensor count, window length, feature list).',
  EL_ERR_DATA_INVALID: 'Training or scoring data is unusable (missing columns, NaN, too few rows).',
  EL_ERR_EXPORT_UNSUPPORTED: 'The ONNX exporter met a layer or activation it does not support.',
} as const satisfies Record<string, string>;

/**
 * Every registered code, as a type. The parts' tables are merged into this interface by cli/error-codes.ts
 * (declaration merging: protocol/ stays the bottom layer and imports no part), so an unregistered literal given
 * to EdgeloopError is a type error; test/errors.test.ts checks the same at run time over the source text.
 */
export interface ErrorCodeRegistry extends Record<keyof typeof PROTOCOL_ERROR_CODES, true> {}

export type ErrorCode = keyof ErrorCodeRegistry;

/**
 * What the constructor accepts for a code `C`: a registered code, or a `string` known only at run time (a code
 * read from another edgeloop process's HTTP answer, or passed through a helper's `code: string` parameter). A
 * string literal that is not registered resolves to `never`: a type error at the call site.
 */
export type RegisteredCode<C extends string> = C & (string extends C ? string : ErrorCode);

export class EdgeloopError<C extends string = ErrorCode> extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: RegisteredCode<C>,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgeloopError';
    this.code = code as ErrorCode;
    this.details = options?.details;
  }
}

export function isEdgeloopError(err: unknown, code?: string): err is EdgeloopError {
  return err instanceof EdgeloopError && (code === undefined || err.code === code);
}
