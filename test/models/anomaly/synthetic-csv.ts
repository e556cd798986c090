/** Small synthetic multi-sensor CSVs for tests (seeded; correlated sensors around a shared load). */
import { Prng } from '../../../lib/prng.ts';

export const TEST_SENSORS = ['temperature', 'vibration', 'pressure', 'current'];

export interface SyntheticOptions {
  rows: number;
  seed?: number;
  separator?: string;
  /** rows [from, to) get a fault: vibration and current jump */
  fault?: [number, number];
  /** extra columns appended to the header and every row */
  extra?: Record<string, (row: number) => string>;
  /** drop the slow periodic terms (a short training part then covers the whole normal range) */
  stationary?: boolean;
}

export function syntheticCsv(opts: SyntheticOptions): string {
  const p = new Prng(opts.seed ?? 1);
  const sep = opts.separator ?? ',';
  const extra = Object.entries(opts.extra ?? {});
  const lines = [['timestamp', ...TEST_SENSORS, ...extra.map(([k]) => k)].join(sep)];
  let load = 0;
  const t0 = Date.UTC(2026, 0, 1);
  for (let r = 0; r < opts.rows; r++) {
    load = 0.95 * load + 0.3 * p.normal();
    const faulty = opts.fault && r >= opts.fault[0] && r < opts.fault[1];
    const temperature = 60 + (opts.stationary ? 0 : 2 * Math.sin(r / 40)) + 0.5 * load + 0.1 * p.normal();
    const vibration = 1.2 + 0.2 * load + 0.05 * p.normal() + (faulty ? 1.5 : 0);
    const pressure = 3 + (opts.stationary ? 0 : 0.1 * Math.cos(r / 25)) + 0.05 * p.normal();
    const current = 10 + 1.5 * load + 0.2 * p.normal() + (faulty ? 4 : 0);
    const ts = new Date(t0 + r * 1000).toISOString();
    lines.push(
      [
        ts,
        temperature.toFixed(3),
        vibration.toFixed(4),
        pressure.toFixed(4),
        current.toFixed(3),
        ...extra.map(([, f]) => f(r)),
      ].join(sep),
    );
  }
  return lines.join('\n') + '\n';
}
