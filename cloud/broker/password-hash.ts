/**
 * scrypt password hashes for broker credentials: `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>`.
 * Hashing and verifying run on the libuv thread pool (async crypto.scrypt), so a connect storm does not block the
 * event loop; comparisons are constant-time.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { EdgeloopError } from '../../protocol/errors.ts';

export interface ScryptParams {
  /** CPU/memory cost (power of two); default 16384 */
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = Object.freeze({ N: 16384, r: 8, p: 1 });
const KEYLEN = 32;

function scryptAsync(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password,
      salt,
      KEYLEN,
      { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  if (typeof password !== 'string' || password.length === 0) {
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'password must be a non-empty string');
  }
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

/** Parse a stored hash; throws EL_ERR_BROKER_CREDENTIALS naming what is wrong. */
export function parsePasswordHash(hash: string): ParsedHash {
  const parts = typeof hash === 'string' ? hash.split('$') : [];
  if (parts.length !== 6 || parts[0] !== 'scrypt') {
    throw new EdgeloopError(
      'EL_ERR_BROKER_CREDENTIALS',
      'password hash must look like scrypt$N$r$p$salt$hash (make one with `edgeloop cloud hash-password`)',
    );
  }
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((x) => Number.isInteger(x) && x > 0) || (N & (N - 1)) !== 0) {
    throw new EdgeloopError(
      'EL_ERR_BROKER_CREDENTIALS',
      `password hash has bad scrypt parameters N=${parts[1]} r=${parts[2]} p=${parts[3]}`,
    );
  }
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || key.length < 16)
    throw new EdgeloopError('EL_ERR_BROKER_CREDENTIALS', 'password hash has a short salt or key');
  return { params: { N, r, p }, salt, key };
}

export async function verifyPassword(password: string | Buffer, hash: string | ParsedHash): Promise<boolean> {
  const h = typeof hash === 'string' ? parsePasswordHash(hash) : hash;
  const key = await scryptAsync(Buffer.isBuffer(password) ? password.toString('utf8') : password, h.salt, h.params);
  return key.length === h.key.length && timingSafeEqual(key, h.key);
}
