/**
 * The JSON-over-HTTP client of the CLI commands that talk to a running server (registry, rollout controller):
 * bearer token, JSON bodies, and errors that carry the server's `{ error: { code, message } }` or say which server
 * could not be reached and how to start one.
 */
import { EdgeloopError } from '../protocol/errors.ts';

export interface JsonClientOptions {
  url: string;
  token: string | undefined;
  /** "the registry", "the rollout controller" */
  what: string;
  /** how to start one, e.g. "edgeloop registry serve" */
  serveHint: string;
  /** code for transport failures and bodies without an error code */
  errorCode: string;
}

export type JsonCall = (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => Promise<unknown>;

export function jsonClient(o: JsonClientOptions): JsonCall {
  const base = o.url.replace(/\/+$/, '');
  return async (method, path, body) => {
    const sendsBody = method !== 'GET';
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers: {
          ...(sendsBody ? { 'content-type': 'application/json' } : {}),
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        },
        ...(sendsBody ? { body: JSON.stringify(body ?? {}) } : {}),
      });
    } catch (cause) {
      throw new EdgeloopError(
        o.errorCode,
        `cannot reach ${o.what} at ${base}: ${(cause as Error).message} (start one with \`${o.serveHint}\` or set --url)`,
        { cause },
      );
    }
    const json = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
    if (!res.ok) throw new EdgeloopError(json.error?.code ?? o.errorCode, json.error?.message ?? `HTTP ${res.status}`);
    return json;
  };
}
