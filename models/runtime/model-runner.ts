/**
 * ModelRunner: the owned interface for running one model. OrtModelRunner (onnxruntime-node) is the
 * implementation; vendor types stay in ort-model-runner.ts.
 */
export interface ModelOutput {
  /** row-major [rows, width] */
  data: Float32Array;
  rows: number;
  width: number;
}

export interface ModelRunner {
  readonly inputName: string;
  readonly outputName: string;
  /** Run a batch: `input` is row-major [rows, inputWidth]. */
  run(input: Float32Array, rows: number): Promise<ModelOutput>;
  close(): Promise<void>;
}
