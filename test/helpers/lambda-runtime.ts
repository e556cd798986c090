/**
 * A local AWS Lambda execution environment for tests: a Runtime API server on a free loopback port and a Node.js
 * bootstrap in a fresh child process (test/helpers/lambda-bootstrap.mjs) that loads the handler from a task root
 * the way the Node.js runtime does, with the runtime's before-exit behaviour: an event loop that drains before
 * the handler's promise settles is taken as a null (success) response.
 *
 *   GET  /2018-06-01/runtime/invocation/next            → the event, headers Lambda-Runtime-Aws-Request-Id,
 *                                                          -Deadline-Ms, -Invoked-Function-Arn, -Trace-Id
 *   POST /2018-06-01/runtime/invocation/{id}/response   → 202; the invocation's result
 *   POST /2018-06-01/runtime/invocation/{id}/error      → 202; the invocation's error
 *   POST /2018-06-01/runtime/init/error                 → 202; the handler could not be loaded
 *
 * A second response or error for an invocation that already has one is refused (400) and kept in `refused`.
 *
 * `kinesisCheckpoint()` is what a Kinesis event source mapping with ReportBatchItemFailures makes of an outcome:
 * which records of the batch it checkpoints past.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

const BOOTSTRAP = join(import.meta.dirname, 'lambda-bootstrap.mjs');

export type InvocationOutcome =
  | { kind: 'response'; requestId: string; body: unknown }
  | { kind: 'error'; requestId: string; errorType: string; errorMessage: string }
  | { kind: 'init-error'; errorType: string; errorMessage: string };

export interface LambdaRuntimeOptions {
  /** the folder the deployment package is unpacked to (LAMBDA_TASK_ROOT) */
  taskRoot: string;
  /** `<file>.<export>`, e.g. 'processor.handler' */
  handler: string;
  /** function configuration: environment variables added to the runtime's own */
  env?: Record<string, string>;
  /** function timeout, for the deadline header; default 60 s */
  timeoutMs?: number;
}

export interface LambdaRuntime {
  /** Queue an invocation; resolves with the first response or error the function posts for it. */
  invoke(event: unknown): Promise<InvocationOutcome>;
  /** posts for an invocation that had already been answered (the Runtime API refuses them) */
  readonly refused: { requestId: string; kind: string; body: string }[];
  /** what the function process wrote (its logs) */
  readonly stdout: string;
  readonly stderr: string;
  close(): Promise<void>;
}

interface Pending {
  requestId: string;
  event: unknown;
  resolve: (o: InvocationOutcome) => void;
  reject: (e: Error) => void;
}

export async function startLambdaRuntime(opts: LambdaRuntimeOptions): Promise<LambdaRuntime> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const queue: Pending[] = [];
  const waiting: ServerResponse[] = [];
  const inFlight = new Map<string, Pending>();
  const refused: LambdaRuntime['refused'] = [];
  let initError: InvocationOutcome | undefined;
  let exited: Error | undefined;
  let stdout = '';
  let stderr = '';

  const deliver = (): void => {
    while (queue.length > 0 && waiting.length > 0) {
      const inv = queue.shift()!;
      const res = waiting.shift()!;
      inFlight.set(inv.requestId, inv);
      const body = JSON.stringify(inv.event);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'lambda-runtime-aws-request-id': inv.requestId,
        'lambda-runtime-deadline-ms': String(Date.now() + timeoutMs),
        'lambda-runtime-invoked-function-arn': 'arn:aws:lambda:us-east-2:123456789012:function:edgeloop-processor',
        'lambda-runtime-trace-id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replaceAll('-', '').slice(0, 24)};Sampled=0`,
      });
      res.end(body);
    }
  };
  const failAll = (settle: (p: Pending) => void): void => {
    for (const p of [...queue.splice(0), ...inFlight.values()]) settle(p);
    inFlight.clear();
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://localhost');
    const accepted = (): void => void res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"OK"}');
    if (req.method === 'GET' && url.pathname === '/2018-06-01/runtime/invocation/next') {
      waiting.push(res);
      deliver();
      return;
    }
    if (req.method === 'POST' && url.pathname === '/2018-06-01/runtime/init/error') {
      const e = JSON.parse(text) as { errorType: string; errorMessage: string };
      initError = { kind: 'init-error', errorType: e.errorType, errorMessage: e.errorMessage };
      failAll((p) => p.resolve(initError!));
      return accepted();
    }
    const m = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url.pathname);
    if (req.method === 'POST' && m) {
      const requestId = decodeURIComponent(m[1]!);
      const inv = inFlight.get(requestId);
      if (!inv) {
        refused.push({ requestId, kind: m[2]!, body: text });
        res.writeHead(400, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            errorType: 'InvalidStateTransition',
            errorMessage: `invocation ${requestId} already has a result`,
          }),
        );
        return;
      }
      inFlight.delete(requestId);
      if (m[2] === 'response') inv.resolve({ kind: 'response', requestId, body: JSON.parse(text) as unknown });
      else {
        const e = JSON.parse(text) as { errorType: string; errorMessage: string };
        inv.resolve({ kind: 'error', requestId, errorType: e.errorType, errorMessage: e.errorMessage });
      }
      return accepted();
    }
    res.writeHead(404).end();
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  // a fresh process with the environment the Lambda service gives a function, nothing of the test runner's
  const child: ChildProcess = spawn(process.execPath, [BOOTSTRAP], {
    cwd: opts.taskRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      AWS_REGION: 'us-east-2',
      AWS_DEFAULT_REGION: 'us-east-2',
      AWS_LAMBDA_FUNCTION_NAME: 'edgeloop-processor',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      AWS_EXECUTION_ENV: `AWS_Lambda_nodejs${process.versions.node.split('.')[0]}.x`,
      AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`,
      LAMBDA_TASK_ROOT: opts.taskRoot,
      _HANDLER: opts.handler,
      ...opts.env,
    },
  });
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = new Error(
        `the function process exited (code ${code}, signal ${signal}); stderr:\n${stderr.slice(-2000)}`,
      );
      failAll((p) => p.reject(exited!));
      resolve();
    });
  });

  return {
    invoke(event) {
      if (initError) return Promise.resolve(initError);
      if (exited) return Promise.reject(exited);
      return new Promise<InvocationOutcome>((resolve, reject) => {
        queue.push({ requestId: randomUUID(), event, resolve, reject });
        deliver();
      });
    },
    refused,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    async close() {
      if (!exited) child.kill('SIGKILL');
      await exit;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The records of a Kinesis batch that an event source mapping with FunctionResponseTypes ["ReportBatchItemFailures"]
 * checkpoints past after this outcome (AWS Lambda developer guide, "Reporting batch item failures"):
 * - a function error: none (the whole batch is retried);
 * - a null response, an empty object, a null or empty `batchItemFailures`: all of them (complete success);
 * - failures naming sequence numbers of the batch: the records before the lowest one;
 * - a failure whose itemIdentifier is missing, empty or not in the batch: none (taken as a complete failure).
 */
export function kinesisCheckpoint(sequenceNumbers: string[], outcome: InvocationOutcome): string[] {
  if (outcome.kind !== 'response') return [];
  const failures = (outcome.body as { batchItemFailures?: { itemIdentifier?: unknown }[] | null } | null)
    ?.batchItemFailures;
  if (failures === undefined || failures === null || failures.length === 0) return [...sequenceNumbers];
  let lowest = Infinity;
  for (const f of failures) {
    const i = typeof f?.itemIdentifier === 'string' ? sequenceNumbers.indexOf(f.itemIdentifier) : -1;
    if (i < 0) return [];
    lowest = Math.min(lowest, i);
  }
  return sequenceNumbers.slice(0, lowest);
}
