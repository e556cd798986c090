/**
 * A model directory: `manifest.json` plus the ONNX file it names (`artifact.file`, a plain file name in the same
 * directory). writeModelDir writes one; verifyModelDir checks schema, signature and sha256 before anything loads
 * the model.
 */
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import { parseManifest } from '../../protocol/manifest.ts';
import type { Manifest, ManifestInput } from '../../protocol/manifest.ts';
import type { KeyInput } from './keys.ts';
import { verifyManifest } from './sign-manifest.ts';

export const MANIFEST_FILE = 'manifest.json';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The manifest's `artifact` block for these ONNX bytes. */
export function describeArtifact(onnx: Uint8Array, file = 'model.onnx'): Manifest['artifact'] {
  checkArtifactName(file, 'artifact file');
  return { file, sha256: sha256Hex(onnx), bytes: onnx.byteLength };
}

/**
 * Write the ONNX file and manifest.json into `dir` (created if needed). The manifest must be valid and describe
 * these bytes (sha256, size). Each file is written to a temporary name and renamed, the manifest last, so a reader
 * never sees a manifest whose model file is missing or half written.
 */
export function writeModelDir(
  dir: string,
  opts: { onnx: Uint8Array; manifest: ManifestInput | Manifest },
): { manifestPath: string; modelPath: string } {
  const m = parseManifest(opts.manifest, 'manifest to write');
  checkArtifactName(m.artifact.file, 'manifest artifact.file');
  const sha = sha256Hex(opts.onnx);
  if (m.artifact.sha256 !== sha || m.artifact.bytes !== opts.onnx.byteLength) {
    throw new EdgeloopError(
      'EL_ERR_MODEL_HASH',
      `manifest artifact (sha256 ${m.artifact.sha256.slice(0, 12)}..., ${m.artifact.bytes} bytes) does not describe the ONNX bytes given (sha256 ${sha.slice(0, 12)}..., ${opts.onnx.byteLength} bytes)`,
    );
  }
  mkdirSync(dir, { recursive: true });
  const modelPath = join(dir, m.artifact.file);
  const manifestPath = join(dir, MANIFEST_FILE);
  atomicWrite(modelPath, opts.onnx);
  atomicWrite(manifestPath, JSON.stringify(opts.manifest, null, 2) + '\n');
  return { manifestPath, modelPath };
}

export interface VerifyModelDirOptions {
  /** public keys (PEM or KeyObject) or a keyId → key map; the manifest must be signed by one of them */
  trustedKeys: Iterable<KeyInput> | ReadonlyMap<string, KeyObject>;
  /** false: accept an unsigned manifest (development only); a signed one is still checked. Default true. */
  requireSignature?: boolean;
}

export interface VerifiedModelDir {
  manifest: Manifest;
  /** absolute path of the ONNX file */
  modelPath: string;
  /** the ONNX bytes that were hashed (load these, not the path, to avoid a check-then-use race) */
  onnx: Buffer;
  /** keyId of the verifying key; undefined for an accepted unsigned manifest */
  keyId: string | undefined;
}

/**
 * Read and check a model directory: manifest schema (EL_ERR_MODEL_MANIFEST_INVALID), signature against the trusted
 * keys (EL_ERR_MODEL_UNSIGNED / EL_ERR_MODEL_UNTRUSTED_KEY for a wrong key / EL_ERR_MODEL_SIGNATURE for a tampered manifest, with
 * `details.reason`), then the ONNX file's sha256 and size (EL_ERR_MODEL_HASH). Signature first: a manifest edited
 * to match a swapped model file is reported as a signature failure.
 */
export function verifyModelDir(dir: string, opts: VerifyModelDirOptions): VerifiedModelDir {
  const { manifestPath, raw } = readManifestJson(dir);
  let manifest: Manifest;
  let keyId: string | undefined;
  if (opts.requireSignature === false && (raw as { signature?: unknown } | null)?.signature === undefined) {
    manifest = parseManifest(raw, manifestPath);
  } else {
    ({ manifest, keyId } = verifyManifest(raw, opts.trustedKeys, manifestPath));
  }
  return { manifest, keyId, ...checkArtifact(dir, manifest, manifestPath) };
}

/**
 * Read a model directory checking the manifest schema and the ONNX file's sha256, but NOT the signature: for local
 * development and offline scoring of a model you built yourself. Anything that deploys a model uses verifyModelDir.
 */
export function readModelDir(dir: string): VerifiedModelDir {
  const { manifestPath, raw } = readManifestJson(dir);
  const manifest = parseManifest(raw, manifestPath);
  return { manifest, keyId: undefined, ...checkArtifact(dir, manifest, manifestPath) };
}

function readManifestJson(dir: string): { manifestPath: string; raw: unknown } {
  const manifestPath = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(manifestPath, 'utf8');
  } catch (cause) {
    throw new EdgeloopError(
      'EL_ERR_MODEL_MANIFEST_INVALID',
      `cannot read ${manifestPath}: ${(cause as Error).message}`,
      { cause },
    );
  }
  try {
    return { manifestPath, raw: JSON.parse(text) };
  } catch (cause) {
    throw new EdgeloopError(
      'EL_ERR_MODEL_MANIFEST_INVALID',
      `${manifestPath} is not valid JSON: ${(cause as Error).message}`,
      { cause },
    );
  }
}

function checkArtifact(dir: string, manifest: Manifest, manifestPath: string): { modelPath: string; onnx: Buffer } {
  checkArtifactName(manifest.artifact.file, `${manifestPath} artifact.file`);
  const modelPath = resolve(dir, manifest.artifact.file);
  let onnx: Buffer;
  try {
    onnx = readFileSync(modelPath);
  } catch (cause) {
    throw new EdgeloopError(
      'EL_ERR_MODEL_HASH',
      `model file ${modelPath} named by the manifest cannot be read: ${(cause as Error).message}`,
      { cause },
    );
  }
  const sha = sha256Hex(onnx);
  if (sha !== manifest.artifact.sha256 || onnx.byteLength !== manifest.artifact.bytes) {
    throw new EdgeloopError(
      'EL_ERR_MODEL_HASH',
      `model file ${modelPath} does not match its manifest: sha256 ${sha} (${onnx.byteLength} bytes), manifest says ${manifest.artifact.sha256} (${manifest.artifact.bytes} bytes); the file was modified or is corrupt`,
      { details: { expected: manifest.artifact.sha256, actual: sha } },
    );
  }
  return { modelPath, onnx };
}

function checkArtifactName(file: string, what: string): void {
  if (basename(file) !== file || file === '.' || file === '..' || file.includes('\\') || file === MANIFEST_FILE) {
    throw new EdgeloopError(
      'EL_ERR_MODEL_MANIFEST_INVALID',
      `${what} "${file}" must be a plain file name in the model directory (not "${MANIFEST_FILE}")`,
    );
  }
}

function atomicWrite(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
