/**
 * ed25519 signatures over model manifests. The signed bytes are canonicalJson(manifest without `signature`)
 * (protocol/canonical-json.ts), so key order and whitespace of manifest.json do not matter, and every other field
 * (sha256 of the model, threshold, normalisation, test vector...) is covered.
 */
import { sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { canonicalJson } from '../../protocol/canonical-json.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { parseManifest } from '../../protocol/manifest.ts';
import type { Manifest, ManifestInput } from '../../protocol/manifest.ts';
import { TrustedKeyRing, keyIdOf, toPrivateKey, toPublicKey } from './keys.ts';
import type { KeyInput } from './keys.ts';

/** The bytes a signature covers. */
export function manifestSigningBytes(manifest: object): Buffer {
  const { signature: _ignored, ...rest } = manifest as Record<string, unknown>;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

/**
 * Validate `manifest` against the schema and return a copy carrying an ed25519 signature (an existing signature is
 * replaced). The signed content is the manifest exactly as given, so write the returned object as it is.
 */
export function signManifest<T extends ManifestInput | Manifest>(
  manifest: T,
  privateKey: KeyInput,
): T & { signature: NonNullable<Manifest['signature']> } {
  const key = toPrivateKey(privateKey);
  const { signature: _old, ...unsigned } = manifest as T & { signature?: unknown };
  parseManifest(unsigned, 'manifest to sign');
  const value = sign(null, manifestSigningBytes(unsigned), key).toString('base64');
  return { ...(unsigned as T), signature: { alg: 'ed25519' as const, keyId: keyIdOf(key), value } };
}

export interface VerifiedManifest {
  manifest: Manifest;
  /** keyId of the trusted key that verified the signature */
  keyId: string;
}

/** A set of trusted public keys indexed by keyId. */
export function trustedKeySet(keys: Iterable<KeyInput> | ReadonlyMap<string, KeyObject>): Map<string, KeyObject> {
  if (keys instanceof Map) return new Map(keys);
  const out = new Map<string, KeyObject>();
  let i = 0;
  for (const k of keys as Iterable<KeyInput>) {
    const pub = toPublicKey(k, `trusted key #${i++}`);
    out.set(keyIdOf(pub), pub);
  }
  return out;
}

/**
 * Check a manifest's schema and signature against trusted public keys.
 * - schema errors: EL_ERR_MODEL_MANIFEST_INVALID
 * - no signature: EL_ERR_MODEL_UNSIGNED
 * - signed by a key that is not trusted (wrong key): EL_ERR_MODEL_UNTRUSTED_KEY, details.reason 'untrusted-key'
 * - a trusted key that does not verify (manifest changed after signing): EL_ERR_MODEL_SIGNATURE, details.reason
 *   'tampered'
 */
export function verifyManifest(
  manifest: unknown,
  publicKeys: Iterable<KeyInput> | ReadonlyMap<string, KeyObject>,
  source = 'manifest',
): VerifiedManifest {
  const parsed = parseManifest(manifest, source);
  const sig = parsed.signature;
  if (!sig)
    throw new EdgeloopError(
      'EL_ERR_MODEL_UNSIGNED',
      `${source} is not signed (no "signature" field); sign it with \`edgeloop models sign\``,
    );
  const trusted = trustedKeySet(publicKeys);
  // a key directory may have gained the key since it was read
  if (!trusted.has(sig.keyId) && publicKeys instanceof TrustedKeyRing)
    for (const [id, k] of publicKeys.reload()) trusted.set(id, k);
  const key = trusted.get(sig.keyId);
  if (!key) {
    const known = [...trusted.keys()];
    throw new EdgeloopError(
      'EL_ERR_MODEL_UNTRUSTED_KEY',
      `${source} is signed with key ${sig.keyId}, which is not among the trusted keys (${known.length ? known.join(', ') : 'none configured'}): wrong key`,
      { details: { reason: 'untrusted-key', keyId: sig.keyId, trusted: known } },
    );
  }
  const ok = verify(null, manifestSigningBytes(manifest as object), key, Buffer.from(sig.value, 'base64'));
  if (!ok) {
    throw new EdgeloopError(
      'EL_ERR_MODEL_SIGNATURE',
      `${source}: the signature by trusted key ${sig.keyId} does not verify: the manifest was modified after signing (or the signature is corrupt)`,
      { details: { reason: 'tampered', keyId: sig.keyId } },
    );
  }
  return { manifest: parsed, keyId: sig.keyId };
}

/** What builders take to sign the manifests they write (keeps the private key out of their code). */
export interface ManifestSigner {
  readonly keyId: string;
  sign<T extends ManifestInput | Manifest>(manifest: T): T & { signature: NonNullable<Manifest['signature']> };
}

export function createSigner(privateKey: KeyInput): ManifestSigner {
  const key = toPrivateKey(privateKey);
  return { keyId: keyIdOf(key), sign: (manifest) => signManifest(manifest, key) };
}
