// The bootstrap of a Node.js Lambda runtime, for tests (test/helpers/lambda-runtime.ts spawns it in a fresh `node`).
// It follows the contract of the AWS Lambda Runtime API and the invoke loop of the Node.js runtime interface client:
//
//   - the handler comes from _HANDLER ("file.export") under LAMBDA_TASK_ROOT; file.js, file.mjs, file.cjs are tried
//     in that order and loaded with import(); a load failure is posted to /runtime/init/error and the process exits;
//   - each iteration GETs /runtime/invocation/next, calls handler(event, context, callback), and posts what the
//     returned promise settles to (or what the callback is given) to /invocation/{id}/response or /error;
//   - while the handler runs the runtime holds no handle of its own (each Runtime API request has its own
//     connection, closed when it is answered). When the event loop drains before the handler's promise settles,
//     Node emits 'beforeExit', and the runtime takes that for a handler that finished without a result: it posts a
//     null (success) response and goes on to the next invocation. A promise that settles later posts a second
//     response for the same request id, which the Runtime API refuses;
//   - an uncaught exception or unhandled rejection during an invocation is posted as its error, then the process
//     exits (129 / 128), as the runtime does.
import http from 'node:http';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [host, port] = (process.env.AWS_LAMBDA_RUNTIME_API ?? '').split(':');
const taskRoot = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
const handlerSpec = process.env._HANDLER ?? '';
const BASE = '/2018-06-01/runtime';

function request(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      {
        host,
        port: Number(port),
        method,
        path,
        agent: false,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': payload.length, ...headers }
          : headers,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function errorBody(err) {
  const e = err instanceof Error ? err : new Error(String(err));
  return { errorType: e.name ?? 'Error', errorMessage: e.message, trace: (e.stack ?? '').split('\n') };
}

function serialize(result) {
  return JSON.stringify(result === undefined ? null : result);
}

// one 'beforeExit' action at a time, replaced per invocation, as in the runtime
let onBeforeExit = () => {};
process.on('beforeExit', () => onBeforeExit());
let onFatal = (err) => {
  console.error('bootstrap: fatal error outside an invocation', err);
  process.exit(1);
};
process.on('uncaughtException', (err) => onFatal(err, 129));
process.on('unhandledRejection', (err) => onFatal(err, 128));

async function loadHandler() {
  const dot = handlerSpec.lastIndexOf('.');
  if (dot <= 0) throw Object.assign(new Error(`Bad handler ${handlerSpec}`), { name: 'Runtime.MalformedHandlerName' });
  const modulePath = handlerSpec.slice(0, dot);
  const exportName = handlerSpec.slice(dot + 1);
  const file = ['.js', '.mjs', '.cjs'].map((ext) => join(taskRoot, modulePath + ext)).find((f) => existsSync(f));
  if (!file)
    throw Object.assign(new Error(`Cannot find module '${modulePath}'`), { name: 'Runtime.ImportModuleError' });
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    throw Object.assign(new Error(`${err?.name ?? 'Error'}: ${err?.message ?? err}`, { cause: err }), {
      name: 'Runtime.ImportModuleError',
    });
  }
  const fn = mod[exportName];
  if (typeof fn !== 'function')
    throw Object.assign(new Error(`${handlerSpec} is undefined or not exported`), { name: 'Runtime.HandlerNotFound' });
  return fn;
}

function scheduleIteration(handler) {
  setImmediate(() => {
    handleOnce(handler).catch((err) => {
      console.error('bootstrap: runtime API failure', err);
      process.exit(1);
    });
  });
}

async function handleOnce(handler) {
  const next = await request('GET', `${BASE}/invocation/next`);
  const id = next.headers['lambda-runtime-aws-request-id'];
  const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
  const post = (kind, body, headers) =>
    request('POST', `${BASE}/invocation/${encodeURIComponent(id)}/${kind}`, body, headers);
  const respond = (result) => post('response', serialize(result));
  const respondError = (err) => {
    const body = errorBody(err ?? 'handled');
    console.error('Invoke Error', JSON.stringify(body));
    return post('error', JSON.stringify(body), { 'lambda-runtime-function-error-type': body.errorType });
  };
  let scheduled = false;
  const nextIteration = () => {
    if (scheduled) return;
    scheduled = true;
    scheduleIteration(handler);
  };
  // the first completion (callback, resolved or rejected promise) counts; the beforeExit path is apart from it
  let finished = false;
  const complete = (err, result, then = nextIteration) => {
    if (finished) return;
    finished = true;
    onBeforeExit = () => {};
    void (err !== undefined && err !== null ? respondError(err) : respond(result)).then(then);
  };
  let waitsForEmptyLoop = true;
  const context = {
    awsRequestId: id,
    invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    getRemainingTimeInMillis: () => deadline - Date.now(),
    get callbackWaitsForEmptyEventLoop() {
      return waitsForEmptyLoop;
    },
    set callbackWaitsForEmptyEventLoop(v) {
      waitsForEmptyLoop = v;
    },
  };
  const callback = (err, result) =>
    complete(err, result, () => {
      // a callback handler's response is final, the next invocation waits for the loop to drain unless told not to
      if (err === undefined || err === null ? waitsForEmptyLoop : false) onBeforeExit = nextIteration;
      else nextIteration();
    });
  // the loop drained while the handler had not finished: a null success, then the next invocation
  onBeforeExit = () => {
    onBeforeExit = () => {};
    void respond(null).then(nextIteration);
  };
  onFatal = (err, code) => void respondError(err).then(() => process.exit(code));
  try {
    const result = handler(JSON.parse(next.body), context, callback);
    if (result && typeof result.then === 'function') {
      result.then(
        (value) => complete(null, value),
        (err) => complete(err ?? 'handled'),
      );
    }
  } catch (err) {
    complete(err);
  }
}

try {
  scheduleIteration(await loadHandler());
} catch (err) {
  const body = errorBody(err);
  console.error('Init Error', JSON.stringify(body));
  await request('POST', `${BASE}/init/error`, JSON.stringify(body), {
    'lambda-runtime-function-error-type': body.errorType,
  });
  process.exit(129);
}
