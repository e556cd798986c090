/**
 * Collects the rows of concurrent requests for one model and runs them in one ONNX Runtime call: requests that
 * arrive in the same event-loop turn (and up to `maxBatch`) share a session.run(). At concurrency 1 this costs
 * nothing (the batch is 1 row); at concurrency 50 it turns 50 runs into a few, which is where ORT's per-call
 * overhead dominates small models.
 */
import type { ModelOutput, ModelRunner } from '../../models/runtime/model-runner.ts';

interface Pending {
  row: Float32Array;
  resolve: (r: { data: Float32Array; offset: number; width: number }) => void;
  reject: (e: unknown) => void;
}

export class MicroBatcher {
  readonly #runner: ModelRunner;
  readonly #width: number;
  readonly #maxBatch: number;
  #queue: Pending[] = [];
  #scheduled = false;
  #running = 0;
  #idle: (() => void)[] = [];
  batches = 0;
  rows = 0;

  constructor(runner: ModelRunner, width: number, maxBatch = 64) {
    this.#runner = runner;
    this.#width = width;
    this.#maxBatch = maxBatch;
  }

  run(row: Float32Array): Promise<{ data: Float32Array; offset: number; width: number }> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ row, resolve, reject });
      if (this.#queue.length >= this.#maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Resolves when no batch is running (used before closing the runner after a hot swap). */
  idle(): Promise<void> {
    if (this.#running === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, this.#maxBatch);
    if (this.#queue.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    const input = new Float32Array(batch.length * this.#width);
    for (let i = 0; i < batch.length; i++) input.set(batch[i]!.row, i * this.#width);
    this.#running++;
    this.batches++;
    this.rows += batch.length;
    this.#runner.run(input, batch.length).then(
      (out: ModelOutput) => {
        for (let i = 0; i < batch.length; i++)
          batch[i]!.resolve({ data: out.data, offset: i * out.width, width: out.width });
        this.#done();
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err);
        this.#done();
      },
    );
  }

  #done(): void {
    this.#running--;
    if (this.#running === 0 && this.#queue.length === 0) {
      const w = this.#idle;
      this.#idle = [];
      for (const r of w) r();
    }
  }
}
