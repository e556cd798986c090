/**
 * Sign a manifest without validating it: what a signing pipeline that does not check would produce (signManifest
 * refuses an invalid manifest). Tests use it to show that devices and registries refuse such manifests anyway.
 */
import { sign, type KeyObject } from 'node:crypto';
import { keyIdOf, manifestSigningBytes } from '../../models/manifest/index.ts';

export function signUnchecked<T extends object>(
  manifest: T,
  privateKey: KeyObject,
): T & { signature: { alg: 'ed25519'; keyId: string; value: string } } {
  const { signature: _old, ...unsigned } = manifest as T & { signature?: unknown };
  const value = sign(null, manifestSigningBytes(unsigned), privateKey).toString('base64');
  return { ...(unsigned as T), signature: { alg: 'ed25519', keyId: keyIdOf(privateKey), value } };
}
