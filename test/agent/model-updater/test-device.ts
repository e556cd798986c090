/**
 * A "device" for rollout tests, made of the real parts the agent uses: MqttTransport (persistent session), the
 * agent's InferenceEngine (ONNX Runtime) as ModelHost, and the ModelUpdater. `pump()` feeds it windows of N(0, 1)
 * readings from a seeded generator and publishes a retained status with the active model and its figures
 * (ModelHost.stats: since activation), as the agent's status reporter does.
 */
import { join } from 'node:path';
import { InferenceEngine } from '../../../agent/inference/inference-engine.ts';
import { MqttTransport } from '../../../transport/mqtt-transport.ts';
import { ModelUpdater, type ModelUpdaterOptions } from '../../../agent/model-updater/model-updater.ts';
import { encodeMessage, type ModelReportMessage, type StatusMessage } from '../../../protocol/messages.ts';
import { Topics } from '../../../protocol/topics.ts';
import { WINDOW } from './test-models.ts';

export const MODEL = 'pump-ae';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TestDeviceOptions {
  id: string;
  brokerUrl: string;
  dir: string;
  trustedKeys: string[];
  seed: number;
  updater?: Partial<ModelUpdaterOptions>;
}

export class TestDevice {
  readonly id: string;
  readonly topics = new Topics();
  readonly transport: MqttTransport;
  readonly engine: InferenceEngine;
  readonly updater: ModelUpdater;
  readonly reports: ModelReportMessage[] = [];
  #rand: () => number;
  #ts = 0;
  #seq = 0;
  #spare: number | undefined;

  constructor(o: TestDeviceOptions) {
    this.id = o.id;
    this.#rand = rng(o.seed);
    this.transport = new MqttTransport({
      url: o.brokerUrl,
      clientId: o.id,
      clean: false,
      sessionExpirySeconds: 3600,
      reconnect: { minMs: 20, maxMs: 200 },
      will: {
        topic: this.topics.status(o.id),
        payload: JSON.stringify({ v: 1, type: 'status', deviceId: o.id, seq: 0, ts: 0, online: false }),
        qos: 1,
        retain: true,
      },
    });
    this.engine = new InferenceEngine({ onEvent: () => undefined, cooldownMs: 0 });
    this.updater = new ModelUpdater({
      deviceId: o.id,
      transport: this.transport,
      host: this.engine,
      modelsDir: join(o.dir, o.id),
      trustedKeys: o.trustedKeys,
      nextSeq: () => ++this.#seq,
      downloadRetry: { minMs: 10, maxMs: 50 },
      ...o.updater,
    });
    this.updater.onReport((r) => this.reports.push(r));
  }

  async start(): Promise<void> {
    await this.transport.start();
    await this.updater.start();
  }

  #gauss(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    const u = 1 - this.#rand();
    const v = this.#rand();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Score `windows` windows of fresh readings, then publish the status. */
  async pump(windows: number): Promise<void> {
    const readings = [];
    for (let i = 0; i < windows * WINDOW; i++)
      readings.push({ sensor: 'vibration', ts: (this.#ts += 10), value: this.#gauss() });
    this.engine.push(readings);
    await this.engine.idle();
    if (this.transport.connected) await this.publishStatus().catch(() => undefined);
  }

  status(): StatusMessage {
    const active = this.engine.active(MODEL);
    const s = this.engine.stats(MODEL);
    return {
      v: 1,
      type: 'status',
      deviceId: this.id,
      seq: ++this.#seq,
      ts: Date.now(),
      online: true,
      models: active ? [{ name: MODEL, version: active.manifest.version }] : [],
      ...(s
        ? {
            inference: {
              windows: s.windows,
              anomalies: s.anomalies,
              anomalyRate: s.anomalyRate,
              p50Ms: s.p95Ms,
              p95Ms: s.p95Ms,
              p99Ms: s.p95Ms,
            },
          }
        : {}),
    };
  }

  async publishStatus(): Promise<void> {
    await this.transport.publish({
      topic: this.topics.status(this.id),
      payload: encodeMessage(this.status()),
      qos: 1,
      retain: true,
    });
  }

  version(): string | undefined {
    return this.engine.active(MODEL)?.manifest.version;
  }

  async close(): Promise<void> {
    await this.updater.close();
    await this.transport.close();
    await this.engine.close();
  }
}
