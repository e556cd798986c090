/**
 * Who a connecting client is, from its TLS client certificate, its username + password, or (with allowAnonymous)
 * its client id. The order and rules are documented in embedded-broker.ts and docs/broker.md.
 */
import type { TLSSocket } from 'node:tls';
import type { AuthenticateError, Client } from 'aedes';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Credentials } from './credentials.ts';
import { verifyPassword } from './password-hash.ts';
import type { Identity } from './topic-authorizer.ts';

export interface IdentifyOptions {
  credentials: Credentials;
  allowAnonymous: boolean;
  requireClientIdMatch: boolean;
  requireRegisteredDevices: boolean;
}

/** EL_ERR_BROKER_AUTH carrying the CONNACK return code aedes sends (4 bad username or password, 5 not authorised). */
export function authError(message: string, returnCode: 4 | 5): AuthenticateError {
  const e = new EdgeloopError('EL_ERR_BROKER_AUTH', message) as unknown as AuthenticateError;
  e.returnCode = returnCode;
  return e;
}

/** The client's identity, or a rejection with an authError. */
export async function identifyClient(
  client: Client,
  username: string | undefined,
  password: Buffer | undefined,
  o: IdentifyOptions,
): Promise<Identity> {
  const creds = o.credentials;
  const sock = client.conn as unknown as Partial<TLSSocket>;
  let id: Identity | undefined;
  if (typeof sock.getPeerCertificate === 'function' && sock.authorized === true) {
    const cn = sock.getPeerCertificate().subject?.CN;
    const cnStr = Array.isArray(cn) ? cn[0] : cn;
    if (typeof cnStr === 'string' && cnStr.length > 0) {
      if (username && username !== cnStr)
        throw authError(`username ${username} does not match certificate CN ${cnStr}`, 5);
      if (creds.certificateServices.has(cnStr) || creds.services.has(cnStr)) id = { kind: 'service', name: cnStr };
      else {
        if (o.requireRegisteredDevices && !creds.devices.has(cnStr))
          throw authError(`certificate CN ${cnStr} is not a registered device`, 5);
        id = { kind: 'device', deviceId: cnStr };
      }
    }
  }
  if (!id && username !== undefined) {
    const dev = creds.devices.get(username);
    const svc = creds.services.get(username);
    const hash = dev ?? svc;
    if (!hash) throw authError(`unknown user ${username} or no password set`, 4);
    if (!password || !(await verifyPassword(password, hash))) throw authError(`wrong password for ${username}`, 4);
    id = dev ? { kind: 'device', deviceId: username } : { kind: 'service', name: username };
  }
  if (!id) {
    if (!o.allowAnonymous) throw authError('credentials required (username/password or a client certificate)', 5);
    id = { kind: 'device', deviceId: client.id };
  }
  if (id.kind === 'device' && o.requireClientIdMatch && client.id !== id.deviceId) {
    throw authError(`client id ${client.id} must equal the device id ${id.deviceId}`, 5);
  }
  return id;
}
