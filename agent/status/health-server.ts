/**
 * HealthServer: optional local HTTP endpoint (node:http, bound to 127.0.0.1 by default) with
 *   GET /healthz   200 {"ok":true,...} when the agent runs and its outbox drains; 503 with the reasons otherwise
 *   GET /metrics   Prometheus text format (prom-client, a registry of its own: several agents in one process
 *                  do not collide)
 * Values are read from the agent when scraped, nothing is computed in between.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { StatusMessage } from '../../protocol/messages.ts';

export interface HealthSnapshot {
  status: StatusMessage;
  connected: boolean;
  readingsAccepted: number;
  readingsRejected: number;
  /** readings the outbox refused (EL_ERR_OUTBOX_FULL: bound with only events left, or a full volume) */
  readingsRefused: number;
  /** what the outbox found at open (lost WAL, quarantined file), its volume's free space and reserve */
  outbox: { seqRollbacks: number; quarantined: number; diskFreeBytes?: number; reserve?: boolean };
  messagesPublished: number;
  publishErrors: number;
  inferenceErrors: number;
}

export interface HealthServerOptions {
  host?: string;
  port: number;
  /** 503 when the oldest unsent record is older than this, ms */
  maxOldestAgeMs?: number;
  snapshot: () => HealthSnapshot;
}

export class HealthServer {
  readonly #o: Required<HealthServerOptions>;
  readonly registry = new Registry();
  #server: Server | undefined;
  #port = 0;

  constructor(opts: HealthServerOptions) {
    this.#o = { host: '127.0.0.1', maxOldestAgeMs: 15 * 60_000, ...opts };
    const snap = (): HealthSnapshot => this.#o.snapshot();
    const r = this.registry;
    const gauge = (name: string, help: string, get: (s: HealthSnapshot) => number): void => {
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(get(snap()));
        },
      });
    };
    const counter = (name: string, help: string, get: (s: HealthSnapshot) => number): void => {
      new Counter({
        name,
        help,
        registers: [r],
        collect() {
          const v = get(snap());
          this.reset();
          this.inc(v);
        },
      });
    };
    gauge('edgeloop_agent_connected', '1 when connected to the broker', (s) => (s.connected ? 1 : 0));
    gauge('edgeloop_agent_outbox_records', 'records waiting in the outbox', (s) => s.status.outbox?.depth ?? 0);
    gauge('edgeloop_agent_outbox_bytes', 'accounted bytes in the outbox', (s) => s.status.outbox?.bytes ?? 0);
    gauge(
      'edgeloop_agent_outbox_oldest_age_seconds',
      'age of the oldest unsent record',
      (s) => (s.status.outbox?.oldestAgeMs ?? 0) / 1000,
    );
    gauge('edgeloop_agent_last_seq', 'last seq assigned', (s) => s.status.seq);
    counter('edgeloop_agent_readings_accepted_total', 'readings committed to the outbox', (s) => s.readingsAccepted);
    counter('edgeloop_agent_readings_rejected_total', 'malformed input lines and readings', (s) => s.readingsRejected);
    counter(
      'edgeloop_agent_telemetry_dropped_total',
      'telemetry dropped by the outbox bound (bytes and age)',
      (s) => s.status.drops?.telemetry ?? 0,
    );
    counter(
      'edgeloop_agent_readings_refused_total',
      'readings refused by the outbox (full: bound with only events left, or volume full)',
      (s) => s.readingsRefused,
    );
    counter(
      'edgeloop_agent_outbox_seq_rollbacks_total',
      'seq rollbacks detected at start (committed outbox transactions lost, e.g. a deleted WAL)',
      (s) => s.outbox.seqRollbacks,
    );
    counter(
      'edgeloop_agent_outbox_quarantined_total',
      'damaged outbox files moved aside and salvaged at start',
      (s) => s.outbox.quarantined,
    );
    gauge(
      'edgeloop_agent_outbox_disk_free_bytes',
      'bytes free on the volume holding the outbox',
      (s) => s.outbox.diskFreeBytes ?? 0,
    );
    gauge(
      'edgeloop_agent_outbox_reserve',
      '1 while the outbox reserve file is in place (0: given back on a full disk)',
      (s) => (s.outbox.reserve === false ? 0 : 1),
    );
    counter(
      'edgeloop_agent_messages_published_total',
      'messages acknowledged by the broker',
      (s) => s.messagesPublished,
    );
    counter('edgeloop_agent_publish_errors_total', 'publishes that failed (re-sent later)', (s) => s.publishErrors);
    counter('edgeloop_agent_inference_windows_total', 'windows scored', (s) => s.status.inference?.windows ?? 0);
    counter('edgeloop_agent_anomalies_total', 'windows over the threshold', (s) => s.status.inference?.anomalies ?? 0);
    counter('edgeloop_agent_inference_errors_total', 'failed inference calls', (s) => s.inferenceErrors);
    gauge(
      'edgeloop_agent_inference_p95_seconds',
      'p95 of an inference call (recent)',
      (s) => (s.status.inference?.p95Ms ?? 0) / 1000,
    );
    gauge(
      'edgeloop_agent_inference_p99_seconds',
      'p99 of an inference call (recent)',
      (s) => (s.status.inference?.p99Ms ?? 0) / 1000,
    );
    // the process's memory (several in-process agents share it): what deploy/agent.env's budget is about
    gauge('edgeloop_agent_process_resident_memory_bytes', 'resident set size of the agent process', () =>
      process.memoryUsage.rss(),
    );
    gauge(
      'edgeloop_agent_process_resident_memory_peak_bytes',
      'peak resident set size of the agent process since it started',
      () => process.resourceUsage().maxRSS * 1024,
    );
    gauge('edgeloop_agent_process_heap_used_bytes', 'V8 heap in use', () => process.memoryUsage().heapUsed);
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new EdgeloopError(
            'EL_ERR_AGENT_SOURCE',
            `health endpoint cannot listen on ${this.#o.host}:${this.#o.port}: ${err.message}`,
            { cause: err },
          ),
        ),
      );
      server.listen(this.#o.port, this.#o.host, () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405, { allow: 'GET' }).end();
      } else if (url === '/healthz') {
        const s = this.#o.snapshot();
        const reasons: string[] = [];
        const age = s.status.outbox?.oldestAgeMs ?? 0;
        if (age > this.#o.maxOldestAgeMs) reasons.push(`oldest unsent record is ${Math.round(age / 1000)} s old`);
        const body = JSON.stringify({
          ok: reasons.length === 0,
          reasons,
          connected: s.connected,
          status: s.status,
          outbox: s.outbox,
        });
        res.writeHead(reasons.length === 0 ? 200 : 503, { 'content-type': 'application/json' }).end(body);
      } else if (url === '/metrics') {
        const text = await this.registry.metrics();
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(text);
      } else {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end('{"error":"not found: GET /healthz or /metrics"}');
      }
    } catch (err) {
      res.writeHead(500).end(String((err as Error).message));
    }
  }

  async close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
