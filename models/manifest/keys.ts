/**
 * ed25519 signing keys for model manifests (node:crypto). Private keys are PKCS#8 PEM, public keys SPKI PEM.
 * A key is named by its keyId: the first 16 hex chars of sha256 over the public key's SPKI DER
 * (protocol/manifest.ts), so a manifest names the key that signed it without shipping it.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';

export type KeyInput = KeyObject | string | Buffer;

export interface SigningKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
  privateKeyPem: string;
  publicKeyPem: string;
}

export function generateSigningKey(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey,
    publicKey,
    keyId: keyIdOf(publicKey),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** keyId of a public key (or of the public half of a private key). */
export function keyIdOf(key: KeyInput): string {
  const k = key instanceof KeyObject ? key : toPublicKey(key, 'key');
  const pub = k.type === 'private' ? createPublicKey(k) : k;
  const der = pub.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/** A private ed25519 key from a KeyObject, PEM text or PEM bytes. */
export function toPrivateKey(key: KeyInput, source = 'private key'): KeyObject {
  let k: KeyObject;
  try {
    k = key instanceof KeyObject ? key : createPrivateKey(key);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_MODEL_KEY', `${source} is not a PEM private key: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (k.type !== 'private')
    throw new EdgeloopError('EL_ERR_MODEL_KEY', `${source} is a ${k.type} key, a private key is needed to sign`);
  if (k.asymmetricKeyType !== 'ed25519')
    throw new EdgeloopError(
      'EL_ERR_MODEL_KEY',
      `${source} is a ${k.asymmetricKeyType} key, manifests are signed with ed25519`,
    );
  return k;
}

/** A public ed25519 key from a KeyObject or PEM (a private key is accepted and reduced to its public half). */
export function toPublicKey(key: KeyInput, source = 'public key'): KeyObject {
  let k: KeyObject;
  try {
    k = key instanceof KeyObject ? key : createPublicKey(key);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_MODEL_KEY', `${source} is not a PEM public key: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (k.type === 'private') k = createPublicKey(k);
  if (k.type !== 'public')
    throw new EdgeloopError('EL_ERR_MODEL_KEY', `${source} is a ${k.type} key, not an ed25519 public key`);
  if (k.asymmetricKeyType !== 'ed25519')
    throw new EdgeloopError(
      'EL_ERR_MODEL_KEY',
      `${source} is a ${k.asymmetricKeyType} key, manifests are signed with ed25519`,
    );
  return k;
}

export function readPrivateKey(file: string): KeyObject {
  return toPrivateKey(readKeyFile(file), file);
}

export function readPublicKey(file: string): KeyObject {
  return toPublicKey(readKeyFile(file), file);
}

/**
 * Write `<name>.key` (private, mode 0600) and `<name>.pub` into `dir`. Refuses to overwrite an existing key unless
 * `overwrite` is set: losing a signing key means re-signing every model.
 */
export function writeSigningKey(
  dir: string,
  name: string,
  pair: SigningKeyPair = generateSigningKey(),
  overwrite = false,
): { privatePath: string; publicPath: string; keyId: string } {
  if (!/^[A-Za-z0-9._-]+$/.test(name))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `key name "${name}" must be letters, digits, ".", "_" or "-"`);
  const privatePath = join(dir, `${name}.key`);
  const publicPath = join(dir, `${name}.pub`);
  if (!overwrite && (existsSync(privatePath) || existsSync(publicPath))) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `${privatePath} or ${publicPath} already exists; not overwriting a signing key`,
    );
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${privatePath}.tmp`, pair.privateKeyPem, { mode: 0o600 });
  renameSync(`${privatePath}.tmp`, privatePath);
  writeFileSync(`${publicPath}.tmp`, pair.publicKeyPem, { mode: 0o644 });
  renameSync(`${publicPath}.tmp`, publicPath);
  return { privatePath, publicPath, keyId: pair.keyId };
}

/**
 * Trusted public keys from files and directories, by keyId. A directory contributes every `*.pub` file in it, and
 * is read again when a manifest names a key that is not in the ring (`reload()`, called by verifyManifest): a key
 * pair made with `edgeloop models keygen` into a trusted directory is trusted by running registries and agents
 * without a restart. A named file or directory that cannot be read is an error (EL_ERR_MODEL_KEY) when the ring is
 * built; a directory that disappears later just contributes nothing.
 */
export class TrustedKeyRing extends Map<string, KeyObject> {
  readonly #paths: readonly string[];

  constructor(paths: Iterable<string>) {
    super();
    this.#paths = [...paths];
    for (const p of this.#paths) {
      try {
        statSync(p);
      } catch (cause) {
        throw new EdgeloopError('EL_ERR_MODEL_KEY', `trusted key ${p}: ${(cause as Error).message}`, { cause });
      }
    }
    this.reload();
  }

  /** Files and directories the ring reads. */
  get paths(): readonly string[] {
    return this.#paths;
  }

  /** Read every path again; keys already known stay (a removed file is not un-trusted before a restart). */
  reload(): this {
    for (const p of this.#paths) {
      let files: string[];
      try {
        files = statSync(p).isDirectory()
          ? readdirSync(p)
              .filter((f) => f.endsWith('.pub'))
              .sort()
              .map((f) => join(p, f))
          : [p];
      } catch {
        continue;
      }
      for (const f of files) {
        const k = readPublicKey(f);
        this.set(keyIdOf(k), k);
      }
    }
    return this;
  }
}

function readKeyFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_MODEL_KEY', `cannot read key file ${file}: ${(cause as Error).message}`, { cause });
  }
}
