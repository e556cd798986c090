/**
 * C-MAPSS replay: the engines of a C-MAPSS file (NASA layout: `unit cycle setting1..3 s1..s21`, space-separated)
 * played as devices, one engine = one device, one cycle = one sample with the 3 settings and 21 sensors. A device
 * plays its engine's cycles once, in order, and then stops (the trajectory ended: a training file's last cycle is
 * the failure; a test file's is a cut, its true RUL given by the RUL file). Parsing is the RUL model's own reader
 * (models/rul/cmapss-data.ts), with its errors naming file and line.
 */
import { readFileSync } from 'node:fs';
import { EdgeloopError } from '../protocol/errors.ts';
import { CMAPSS_SENSORS, parseCmapss, parseRulFile } from '../models/rul/cmapss-data.ts';
import type { DeviceLife } from './scenarios/degradation.ts';
import type { SampleSource } from './virtual-device.ts';

export const CMAPSS_REPLAY_SENSORS: readonly string[] = ['setting1', 'setting2', 'setting3', ...CMAPSS_SENSORS];

export interface CmapssEngine {
  unit: number;
  /** row-major [cycles, 24]: settings, then s1..s21 */
  values: Float64Array;
  cycles: number;
  /** true RUL after the last cycle: from the RUL file, else 0 (run to failure) */
  rulAfterLast: number;
  failsAtEnd: boolean;
}

/** Parse a C-MAPSS file (and its RUL file) into engines. Pure. */
export function parseCmapssEngines(
  text: string,
  source: string,
  rul?: { text: string; source: string },
): CmapssEngine[] {
  const units = parseCmapss(text, source);
  const truth = rul ? parseRulFile(rul.text, rul.source) : undefined;
  if (truth && truth.length !== units.length)
    throw new EdgeloopError(
      'EL_ERR_RUL_DATA',
      `${source} has ${units.length} units but ${rul!.source} has ${truth.length} RUL values (one line per unit, in order)`,
    );
  // the settings: columns 3-5 of the rows parseCmapss validated, in the same order
  const settings: number[][] = [];
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t !== '') settings.push(t.split(/\s+/).slice(2, 5).map(Number));
  }
  let row = 0;
  return units.map((u, i) => {
    const values = new Float64Array(u.length * 24);
    for (let c = 0; c < u.length; c++, row++) {
      values.set(settings[row]!, c * 24);
      values.set(u.sensors.subarray(c * 21, c * 21 + 21), c * 24 + 3);
    }
    const r = truth ? truth[i]! : 0;
    return { unit: u.unit, values, cycles: u.length, rulAfterLast: r, failsAtEnd: truth === undefined };
  });
}

export function loadCmapssEngines(path: string, rulPath?: string): CmapssEngine[] {
  const read = (p: string): string => {
    try {
      return readFileSync(p, 'utf8');
    } catch (cause) {
      throw new EdgeloopError('EL_ERR_SIM_OPTIONS', `C-MAPSS replay: cannot read ${p}: ${(cause as Error).message}`, {
        cause,
      });
    }
  };
  return parseCmapssEngines(
    read(path),
    path,
    rulPath === undefined ? undefined : { text: read(rulPath), source: rulPath },
  );
}

/** Plays one engine's cycles once, then produces nothing. */
export class CmapssSource implements SampleSource {
  readonly sensors = CMAPSS_REPLAY_SENSORS;
  readonly #e: CmapssEngine;
  /** cycles sampled so far */
  sent = 0;

  constructor(engine: CmapssEngine) {
    this.#e = engine;
  }

  get cycles(): number {
    return this.#e.cycles;
  }

  sample(_t: number, values: Float64Array, present: Uint8Array): void {
    if (this.sent >= this.#e.cycles) {
      present.fill(0);
      return;
    }
    values.set(this.#e.values.subarray(this.sent * 24, this.sent * 24 + 24));
    present.fill(1);
    this.sent++;
  }
}

export function engineLife(deviceId: string, e: CmapssEngine): DeviceLife {
  return { deviceId, cycles: e.cycles, rulAfterLast: e.rulAfterLast, failsAtEnd: e.failsAtEnd };
}
