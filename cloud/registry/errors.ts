/** Error codes of the model registry (cloud/registry/). */
export const REGISTRY_ERROR_CODES = {
  EL_ERR_REGISTRY_NOT_FOUND: 'The model, version, alias or artifact asked for is not in the registry.',
  EL_ERR_REGISTRY_CONFLICT:
    'A version with this name already exists with a different manifest (versions are immutable).',
  EL_ERR_REGISTRY_UNTRUSTED:
    'A pushed manifest does not verify: its artifact sha256 or its signature against the trusted keys is wrong.',
  EL_ERR_REGISTRY_BAD_PUSH:
    'A push request is malformed (no manifest, no artifact, bad base64, a local path when paths are not allowed).',
  EL_ERR_REGISTRY_RANGE: 'A Range header cannot be satisfied (HTTP 416).',
  EL_ERR_REGISTRY_HTTP: 'The registry HTTP API answered with an error (the message carries its status and reason).',
} as const satisfies Record<string, string>;
