/**
 * Load generator in its own process (so the server under test has the event loop to itself):
 *   tsx bench/load/autocannon-worker.ts '{"url":"http://127.0.0.1:1234","paths":["/a","/b"],"connections":50,"duration":10}'
 * Prints one JSON line with req/s and latency percentiles (ms).
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

async function run(duration: number): Promise<autocannon.Result> {
  return autocannon({ url: args.url, connections: args.connections, duration, requests, pipelining: 1 });
}

if (args.warmup) await run(args.warmup);
const r = await run(args.duration);
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
    p99: r.latency.p99,
    max: r.latency.max,
  }) + '\n',
);
