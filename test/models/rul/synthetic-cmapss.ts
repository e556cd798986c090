/**
 * Synthetic C-MAPSS-format data for tests (never the real data): units run to failure, and the informative
 * sensors drift by an amount that grows as exp(-RUL / 40) (plus noise), so the remaining life is learnable from a
 * window; the constant FD001 sensors stay constant. `cut` turns the units into a test file + RUL file as NASA's.
 */
import { Prng } from '../../../lib/prng.ts';
import { FD001_SENSORS } from '../../../models/rul/cmapss-data.ts';

export interface SyntheticCmapss {
  train: string;
  test: string;
  rul: string;
  trueRul: number[];
}

const BASE = Array.from({ length: 21 }, (_, i) => 100 + i * 37.5);

function unitRows(unit: number, length: number, upTo: number, prng: Prng): string[] {
  const rows: string[] = [];
  for (let c = 1; c <= upTo; c++) {
    const wear = Math.exp(-(length - c) / 40);
    const s = BASE.map((b, i) => {
      const informative = (FD001_SENSORS as readonly string[]).includes(`s${i + 1}`);
      if (!informative) return b.toFixed(2);
      const sign = i % 2 === 0 ? 1 : -1;
      return (b + sign * (8 * wear + 0.4 * prng.normal())).toFixed(4);
    });
    rows.push(
      `${unit} ${c} ${(0.001 * prng.normal()).toFixed(4)} ${(0.0003 * prng.normal()).toFixed(4)} 100.0 ${s.join(' ')}`,
    );
  }
  return rows;
}

export function syntheticCmapss(opts: { trainUnits: number; testUnits: number; seed: number }): SyntheticCmapss {
  const prng = new Prng(opts.seed);
  const train: string[] = [];
  for (let u = 1; u <= opts.trainUnits; u++) {
    const length = 90 + prng.int(90);
    train.push(...unitRows(u, length, length, prng));
  }
  const test: string[] = [];
  const trueRul: number[] = [];
  for (let u = 1; u <= opts.testUnits; u++) {
    const length = 90 + prng.int(90);
    const r = 5 + prng.int(Math.min(120, length - 40));
    test.push(...unitRows(u, length, length - r, prng));
    trueRul.push(r);
  }
  return { train: train.join('\n') + '\n', test: test.join(' \n') + ' \n', rul: trueRul.join('\n') + '\n', trueRul };
}
