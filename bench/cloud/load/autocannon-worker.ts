/**
 * Load generator in its own process (so the server under test has the event loop to itself):
 *   tsx bench/cloud/load/autocannon-worker.ts '{"url":"http://127.0.0.1:1234","paths":["/a","/b"],"connections":50,"duration":10}'
 * Prints one JSON line with req/s and latency percentiles (ms; p95 from every response time).
 */
import autocannon from 'autocannon';

interface Args {
  url: string;
  paths: string[];
  connections: number;
  duration: number;
  warmup?: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const requests = args.paths.map((path) => ({ method: 'GET' as const, path }));

/** a run, and every response time of it (ms): autocannon's own percentiles skip p95 */
function run(duration: number): Promise<{ r: autocannon.Result; times: number[] }> {
  const times: number[] = [];
  return new Promise((resolve, reject) => {
    const inst = autocannon(
      { url: args.url, connections: args.connections, duration, requests, pipelining: 1 },
      (err, r) => (err ? reject(err) : resolve({ r, times })),
    );
    inst.on('response', (_client, _status, _bytes, ms) => times.push(ms));
  });
}

if (args.warmup) await run(args.warmup);
const { r, times } = await run(args.duration);
times.sort((a, b) => a - b);
const p95 = times.length === 0 ? null : times[Math.min(times.length - 1, Math.ceil(times.length * 0.95) - 1)]!;
process.stdout.write(
  JSON.stringify({
    connections: args.connections,
    rps: r.requests.average,
    total: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p95: p95 === null ? null : Math.round(p95 * 100) / 100,
    p99: r.latency.p99,
    max: r.latency.max,
  }) + '\n',
);
