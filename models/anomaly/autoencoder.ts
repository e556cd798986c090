/**
 * A small dense autoencoder in TensorFlow.js: width → hidden[0] → ... → hidden[last] (bottleneck) → ... →
 * hidden[0] → width (linear output). Deterministic for a seed: each layer's initialiser gets its own seed and the
 * training loop shuffles with a seeded generator (tfjs' own shuffle uses Math.random).
 */
import type * as tf from '@tensorflow/tfjs';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Tf } from '../training/load-tf.ts';
import { Prng } from '../../lib/prng.ts';

export const AUTOENCODER_ACTIVATIONS = ['relu', 'tanh', 'elu', 'sigmoid', 'selu', 'swish'] as const;
export type AutoencoderActivation = (typeof AUTOENCODER_ACTIVATIONS)[number];

export interface AutoencoderOptions {
  /** encoder layer sizes, the last is the bottleneck; the decoder mirrors them. Default [32, 8]. */
  hidden?: number[];
  /** activation of the hidden layers; default 'tanh' */
  activation?: AutoencoderActivation;
  seed?: number;
}

export function buildAutoencoder(tfjs: Tf, width: number, opts: AutoencoderOptions = {}): tf.Sequential {
  const hidden = opts.hidden ?? [32, 8];
  const activation = opts.activation ?? 'tanh';
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(width) || width < 1)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `input width must be an integer >= 1, got ${width}`);
  if (hidden.length === 0 || hidden.some((h) => !Number.isInteger(h) || h < 1)) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `hidden layer sizes must be integers >= 1, got [${hidden.join(', ')}]`,
    );
  }
  if (!AUTOENCODER_ACTIVATIONS.includes(activation)) {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `activation must be one of ${AUTOENCODER_ACTIVATIONS.join(', ')}, got "${activation}"`,
    );
  }
  const sizes = [...hidden, ...hidden.slice(0, -1).reverse()];
  const model = tfjs.sequential({ name: 'autoencoder' });
  sizes.forEach((units, i) => {
    model.add(
      tfjs.layers.dense({
        ...(i === 0 ? { inputShape: [width] } : {}),
        units,
        activation,
        kernelInitializer: tfjs.initializers.glorotUniform({ seed: seed * 101 + i }),
        biasInitializer: 'zeros',
        name: `dense_${i}`,
      }),
    );
  });
  model.add(
    tfjs.layers.dense({
      units: width,
      activation: 'linear',
      kernelInitializer: tfjs.initializers.glorotUniform({ seed: seed * 101 + sizes.length }),
      biasInitializer: 'zeros',
      name: `dense_${sizes.length}`,
    }),
  );
  return model;
}

export interface TrainOptions {
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  seed?: number;
  /** called after each epoch with the mean training loss (MSE on normalised windows) */
  onEpoch?: (epoch: number, loss: number) => void;
}

/**
 * Train `model` to reconstruct its input. `x` is row-major [count, width], already normalised. Adam, MSE loss,
 * seeded shuffling each epoch. Returns the mean loss per epoch.
 */
export async function trainAutoencoder(
  tfjs: Tf,
  model: tf.Sequential,
  x: Float32Array,
  count: number,
  width: number,
  opts: TrainOptions = {},
): Promise<number[]> {
  const epochs = opts.epochs ?? 60;
  const batchSize = opts.batchSize ?? 32;
  const learningRate = opts.learningRate ?? 3e-3;
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `epochs must be an integer >= 1, got ${epochs}`);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `batch size must be an integer >= 1, got ${batchSize}`);
  if (!(learningRate > 0))
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `learning rate must be > 0, got ${learningRate}`);
  if (x.length !== count * width || count < 1)
    throw new EdgeloopError(
      'EL_ERR_DATA_INVALID',
      `training data of ${x.length} values is not ${count} windows of ${width}`,
    );
  // a passed-in optimizer is not owned (so not disposed) by the model: dispose its slot variables here
  const optimizer = tfjs.train.adam(learningRate);
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const prng = new Prng(opts.seed ?? 1);
  const xs = tfjs.tensor2d(x, [count, width]);
  const order = Int32Array.from({ length: count }, (_, i) => i);
  const losses: number[] = [];
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      prng.shuffle(order);
      let sum = 0;
      let n = 0;
      for (let b = 0; b < count; b += batchSize) {
        const idx = order.subarray(b, Math.min(count, b + batchSize));
        const xb = tfjs.tidy(() => tfjs.gather(xs, tfjs.tensor1d(idx, 'int32')));
        try {
          const loss = (await model.trainOnBatch(xb, xb)) as number;
          sum += loss * idx.length;
          n += idx.length;
        } finally {
          xb.dispose();
        }
      }
      const mean = sum / n;
      if (!Number.isFinite(mean))
        throw new EdgeloopError(
          'EL_ERR_DATA_INVALID',
          `training diverged at epoch ${epoch} (loss ${mean}); lower the learning rate`,
        );
      losses.push(mean);
      opts.onEpoch?.(epoch, mean);
    }
  } finally {
    xs.dispose();
    optimizer.dispose();
  }
  return losses;
}
