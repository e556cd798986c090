/**
 * Loads TensorFlow.js once per process. The pure-JS CPU backend is the default: it is deterministic (same seed,
 * same machine → same weights, byte for byte) and needs no native build. `@tensorflow/tfjs-node` is used only when
 * `backend: 'auto'` is asked for and the package is installed (it is an optional peer dependency; faster, but its
 * multi-threaded kernels do not promise bit-identical results).
 */
import type * as TF from '@tensorflow/tfjs';

export type Tf = typeof TF;
export type TfBackend = 'cpu' | 'auto';

let loaded: Promise<Tf> | undefined;

export function loadTf(backend: TfBackend = 'cpu'): Promise<Tf> {
  loaded ??= (async () => {
    const tf = (await import('@tensorflow/tfjs')) as Tf;
    // PROD mode: no "install tfjs-node" banner on stdout and no per-op NaN checks (training checks its data).
    tf.enableProdMode();
    if (backend === 'auto') {
      const name = '@tensorflow/tfjs-node';
      try {
        await import(name);
      } catch {
        /* optional peer dependency not installed: stay on the CPU backend */
      }
    }
    const want = backend === 'auto' && tf.findBackend('tensorflow') ? 'tensorflow' : 'cpu';
    await tf.setBackend(want);
    await tf.ready();
    return tf;
  })();
  return loaded;
}
