/**
 * Normal-operation CSV from the fleet simulator's signal model (no faults): what `edgeloop models sample-data`
 * writes, so a model can be trained on data shaped like the simulated fleet's (same sensor names and scales)
 * without a data set at hand. Pure: rows are returned as text; the caller writes the files.
 */
import { Prng } from './prng.ts';
import { DEFAULT_SENSORS, SignalModel } from './signal-model.ts';

export interface NormalCsvOptions {
  /** one CSV per device */
  devices: number;
  /** rows per device, one per second */
  seconds: number;
  seed: number;
  /** first timestamp, ms (default 2026-01-01T00:00:00Z) */
  startMs?: number;
}

/**
 * CSV texts (`timestamp,<sensor>...`) of simulated devices in normal operation. Sensors with a steady drift (tool
 * wear) are left out: a reconstruction model cannot learn a counter that only grows, and the agent scores the rest.
 */
export function normalCsv(o: NormalCsvOptions): Array<{ name: string; csv: string }> {
  const specs = DEFAULT_SENSORS.filter((s) => s.driftPerHour === 0);
  const startMs = o.startMs ?? Date.UTC(2026, 0, 1);
  const row = new Float64Array(specs.length);
  const out: Array<{ name: string; csv: string }> = [];
  for (let d = 0; d < o.devices; d++) {
    const name = `sim-${String(d + 1).padStart(3, '0')}`;
    const model = new SignalModel(specs, new Prng(`normal-csv/${o.seed}/${name}`), startMs);
    const lines = [['timestamp', ...specs.map((s) => s.name)].join(',')];
    for (let r = 0; r < o.seconds; r++) {
      const t = startMs + r * 1000;
      model.sample(t, row);
      lines.push(
        [new Date(t).toISOString(), ...specs.map((s, j) => model.finish(j, row[j]!).toFixed(s.decimals))].join(','),
      );
    }
    out.push({ name: `${name}.csv`, csv: lines.join('\n') + '\n' });
  }
  return out;
}
