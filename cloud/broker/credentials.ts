/**
 * Broker credentials: which devices and services may connect, with scrypt password hashes.
 *
 * File (YAML or JSON):
 *   devices:
 *     pump-17: scrypt$16384$8$1$...      # username = deviceId
 *     pump-18: { passwordHash: scrypt$... }
 *   services:
 *     ingest: scrypt$...                 # privileged: any topic
 *   certificateServices: [rollout]       # certificate CNs that are services, not devices
 *
 * Devices connecting with a client certificate need no entry here (the CA vouches for the CN = deviceId), unless
 * `requireRegisteredDevices` is set, in which case the CN must also be listed under devices.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { EdgeloopError } from '../../protocol/errors.ts';
import { isValidId } from '../../protocol/topics.ts';
import { parsePasswordHash, type ParsedHash } from './password-hash.ts';

export interface Credentials {
  devices: Map<string, ParsedHash | undefined>;
  services: Map<string, ParsedHash | undefined>;
  certificateServices: Set<string>;
}

export function emptyCredentials(): Credentials {
  return { devices: new Map(), services: new Map(), certificateServices: new Set() };
}

function entryHash(where: string, v: unknown): ParsedHash | undefined {
  if (v === null || v === undefined) return undefined; // listed, certificate only
  const s =
    typeof v === 'string'
      ? v
      : typeof v === 'object' && v && 'passwordHash' in v
        ? (v as { passwordHash: unknown }).passwordHash
        : undefined;
  if (typeof s !== 'string')
    throw new EdgeloopError(
      'EL_ERR_BROKER_CREDENTIALS',
      `${where}: expected a password hash string or { passwordHash }`,
    );
  try {
    return parsePasswordHash(s);
  } catch (err) {
    throw new EdgeloopError('EL_ERR_BROKER_CREDENTIALS', `${where}: ${(err as Error).message}`);
  }
}

/** Parse a credentials object (from YAML/JSON or config). `source` names it in errors. */
export function parseCredentials(raw: unknown, source: string): Credentials {
  const c = emptyCredentials();
  if (raw === null || raw === undefined) return c;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new EdgeloopError('EL_ERR_BROKER_CREDENTIALS', `${source}: the top level must be a mapping`);
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!['devices', 'services', 'certificateServices'].includes(k)) {
      throw new EdgeloopError(
        'EL_ERR_BROKER_CREDENTIALS',
        `${source}: unknown key "${k}" (expected devices, services, certificateServices)`,
      );
    }
  }
  for (const [section, map] of [
    ['devices', c.devices],
    ['services', c.services],
  ] as const) {
    const v = r[section];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v))
      throw new EdgeloopError(
        'EL_ERR_BROKER_CREDENTIALS',
        `${source}: ${section} must be a mapping of name → password hash`,
      );
    for (const [name, entry] of Object.entries(v as Record<string, unknown>)) {
      if (!isValidId(name))
        throw new EdgeloopError('EL_ERR_BROKER_CREDENTIALS', `${source}: ${section}.${name}: not a valid id`);
      map.set(name, entryHash(`${source}: ${section}.${name}`, entry));
    }
  }
  const cs = r.certificateServices;
  if (cs !== undefined) {
    if (!Array.isArray(cs) || !cs.every((x) => typeof x === 'string')) {
      throw new EdgeloopError('EL_ERR_BROKER_CREDENTIALS', `${source}: certificateServices must be a list of names`);
    }
    for (const n of cs) c.certificateServices.add(n);
  }
  for (const n of c.devices.keys()) {
    if (c.services.has(n))
      throw new EdgeloopError('EL_ERR_BROKER_CREDENTIALS', `${source}: "${n}" is both a device and a service`);
  }
  return c;
}

export function loadCredentialsFile(path: string): Credentials {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new EdgeloopError(
      'EL_ERR_BROKER_CREDENTIALS',
      `${path}: cannot read credentials file (${(cause as Error).message})`,
      { cause },
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_BROKER_CREDENTIALS', `${path}: not valid YAML/JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
  return parseCredentials(raw, path);
}
