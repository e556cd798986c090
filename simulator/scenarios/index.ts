/**
 * The maintenance scenarios of the simulator, behind one small hook of runSimulation: `degradation` (devices that
 * wear to failure, scenarios/degradation.ts) and the C-MAPSS replay (simulator/cmapss-replay.ts). Each builds the
 * fleet and its ground truth; after the run, `score()` reads what the live path serves (the maintenance API at
 * `maintenanceUrl`) once it has seen every cycle sent, and scores it (scenarios/maintenance-score.ts).
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { deviceIds, type BuiltFleet } from '../build-fleet.ts';
import { CmapssSource, engineLife, loadCmapssEngines } from '../cmapss-replay.ts';
import type { ResolvedSimulationOptions } from '../simulation-options.ts';
import { VirtualDevice } from '../virtual-device.ts';
import { degradationFleet, type DeviceLife } from './degradation.ts';
import { scoreMaintenance, type AlertSeen, type MaintenanceScore, type ServedRul } from './maintenance-score.ts';

export interface MaintenanceReport {
  scenario: 'degradation' | 'cmapss-replay';
  /** the maintenance API scored, or null when none was given (then only the ground truth is reported) */
  url: string | null;
  devices: number;
  /** devices whose last cycle in the run was their failure */
  failures: number;
  /** waited this long after the run for the live path to see every cycle (ms) */
  waitedMs: number | null;
  score: MaintenanceScore | null;
  note: string;
}

export interface ScenarioRun {
  fleet: BuiltFleet;
  score(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<MaintenanceReport>;
}

/** The scenario the options ask for, or undefined (the plain fleet). */
export function prepareScenario(o: ResolvedSimulationOptions): ScenarioRun | undefined {
  let sources: { cycles: number; sent: number }[];
  let lives: DeviceLife[];
  let fleet: BuiltFleet;
  let kind: MaintenanceReport['scenario'];
  if (o.replayCmapss) {
    const engines = loadCmapssEngines(o.replayCmapss.path, o.replayCmapss.rul);
    const ids = deviceIds(o.deviceIdPrefix, engines.length);
    const src = engines.map((e) => new CmapssSource(e));
    lives = engines.map((e, i) => engineLife(ids[i]!, e));
    sources = src;
    fleet = {
      devices: src.map((s, i) => new VirtualDevice(ids[i]!, s)),
      groundTruth: [],
      sensors: [...src[0]!.sensors],
    };
    kind = 'cmapss-replay';
  } else if (o.scenario === 'degradation') {
    const built = degradationFleet(o.seed, deviceIds(o.deviceIdPrefix, o.devices), o.degradation ?? {});
    lives = built.lives;
    sources = built.sources;
    fleet = { devices: built.devices, groundTruth: [], sensors: [...built.sources[0]!.sensors] };
    kind = 'degradation';
  } else return undefined;

  const cyclesPerSec = o.messageRate * o.samplesPerMessage;
  return {
    fleet,
    async score({ timeoutMs, signal }) {
      const truth = lives.map((l, i) => ({ ...l, sent: sources[i]!.sent }));
      const failures = truth.filter((t) => t.failsAtEnd && t.sent >= t.cycles).length;
      const base = { scenario: kind, devices: truth.length, failures };
      if (!o.maintenanceUrl)
        return {
          ...base,
          url: null,
          waitedMs: null,
          score: null,
          note: 'no maintenanceUrl: the live path was not scored (give the maintenance API of the cloud the fleet sends to)',
        };
      const url = o.maintenanceUrl.replace(/\/+$/, '');
      const t0 = Date.now();
      let served: ServedRul[] = [];
      let horizon = 0;
      for (;;) {
        const fleetView = (await getJson(`${url}/v1/maintenance/devices?sort=deviceId&limit=10000`, signal)) as {
          devices: ServedRul[];
          horizon: number;
        };
        served = fleetView.devices;
        horizon = fleetView.horizon;
        const seen = new Map(served.map((s) => [s.deviceId, s]));
        // every device's last cycle scored (a device with fewer cycles than the window stays warming-up)
        const done = truth.every((t) => {
          const s = seen.get(t.deviceId);
          return t.sent === 0 || (s !== undefined && s.cycles >= t.sent);
        });
        if (done || Date.now() - t0 > timeoutMs) break;
        await delay(100, signal);
      }
      // the last cycle is scored in a batch shortly after it is seen: one more read after a pause
      await delay(200, signal);
      served = (
        (await getJson(`${url}/v1/maintenance/devices?sort=deviceId&limit=10000`, signal)) as { devices: ServedRul[] }
      ).devices;
      const alerts = (
        (await getJson(`${url}/v1/maintenance/alerts?state=firing&limit=10000`, signal)) as { alerts: AlertSeen[] }
      ).alerts;
      const score = scoreMaintenance(truth, served, alerts, { horizon, cyclesPerSec });
      return {
        ...base,
        url,
        waitedMs: Date.now() - t0,
        score,
        note:
          score.complete < score.devices
            ? `${score.devices - score.complete} devices had cycles the live path had not seen when the wait ended`
            : 'every cycle sent was seen by the live path',
      };
    },
  };
}

async function getJson(url: string, signal?: AbortSignal): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, signal ? { signal } : {});
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_SIM_MAINTENANCE', `GET ${url}: ${(cause as Error).message}`, { cause });
  }
  if (!res.ok) throw new EdgeloopError('EL_ERR_SIM_MAINTENANCE', `GET ${url}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(new Error('aborted'));
      },
      { once: true },
    );
  });
}
