/**
 * `up`'s simulated fleet: real agents (SQLite outbox + ONNX each) or light-mode devices, with random faults; with
 * `--scenario degradation`, devices that wear to failure like C-MAPSS engines instead (no faults).
 */
import { join } from 'node:path';
import type { EdgeloopError } from '../../protocol/errors.ts';
import type { Topics } from '../../protocol/topics.ts';
import type { InjectedFault } from '../../simulator/faults/data-faults.ts';
import { trustedKeys } from '../up-state.ts';
import { shortReason, type Secrets, type UpOptions } from './types.ts';

export async function startFleet(
  o: UpOptions,
  ids: string[],
  secrets: Secrets,
  mqttUrl: string,
  auth: boolean,
  topics: Topics,
  warn: (s: string) => void,
  missing: Array<{ part: string; reason: string }>,
): Promise<{
  label: string;
  close: () => Promise<void>;
  faults: InjectedFault[];
  /** the drift scenario's shifted devices and the time the shift sets in (device time, ms) */
  shift: { devices: string[]; onsetMs: number } | undefined;
}> {
  const { resolveSimulationOptions } = await import('../../simulator/simulation-options.ts');
  const { Prng } = await import('../../simulator/prng.ts');
  const { DEFAULT_SENSORS, SignalModel } = await import('../../simulator/signal-model.ts');
  const { planRandomFaults } = await import('../../simulator/faults/data-faults.ts');
  const { SyntheticSource, VirtualDevice } = await import('../../simulator/virtual-device.ts');
  const { parseUrl } = await import('../../simulator/run-plan.ts');
  const { defaultModelsDir } = await import('../../simulator/create-fleet-driver.ts');
  const { TimeSeries } = await import('../../simulator/report/time-series.ts');
  const now = Date.now();
  const root = new Prng(o.seed);
  const names = DEFAULT_SENSORS.map((s) => s.name);
  // the degradation scenario: devices that wear to failure (simulator/scenarios/degradation.ts), no random faults
  const wearing =
    o.scenario === 'degradation'
      ? (await import('../../simulator/scenarios/degradation.ts')).degradationFleet(o.seed, ids)
      : undefined;
  // faults over the next 24 h: one every `faultEverySec` on average somewhere in the fleet, after a 15 s warm-up
  const horizonSec = 24 * 3600;
  const faults =
    o.faultEverySec > 0 && !wearing
      ? planRandomFaults({
          prng: root.fork('faults'),
          deviceIds: ids,
          sensorNames: names,
          kinds: ['spike', 'drift', 'stuck', 'tool-wear', 'heat-dissipation', 'power', 'overstrain'],
          count: Math.min(200_000, Math.floor(horizonSec / o.faultEverySec)),
          from: now + 15_000,
          to: now + horizonSec * 1000,
        })
      : [];
  const byDevice = new Map<string, typeof faults>();
  for (const f of faults) byDevice.set(f.deviceId, [...(byDevice.get(f.deviceId) ?? []), f]);
  // the drift scenario: the cohort's new regime from its onset on (a shift is normal data, never ground truth)
  const { parseRegimeShift, RegimeShift, shiftCohort } = await import('../../simulator/scenarios/regime-shift.ts');
  const shift = o.scenario === 'drift' ? parseRegimeShift(o.shift ?? {}, 'shift') : undefined;
  const cohort = new Set(shift ? shiftCohort(shift, ids) : []);
  const devices =
    wearing?.devices ??
    ids.map((id) => {
      const model = new SignalModel(DEFAULT_SENSORS, root.fork(id), now);
      const regime = shift && cohort.has(id) ? new RegimeShift(shift, model, now) : undefined;
      return new VirtualDevice(id, new SyntheticSource(model, byDevice.get(id) ?? [], regime));
    });
  const shiftInfo = shift ? { devices: [...cohort], onsetMs: now + shift.onsetSec * 1000 } : undefined;
  const ep = parseUrl(mqttUrl);
  const credentials = auth ? (id: string) => ({ username: id, password: secrets.devices[id] ?? '' }) : undefined;
  const options = resolveSimulationOptions({
    mode: o.mode,
    devices: ids.length,
    messageRate: o.rate,
    durationSec: horizonSec,
    deviceIdPrefix: 'dev-',
    reconnect: { minMs: 200, maxMs: 5000 },
  });
  if (o.mode === 'agent') {
    try {
      const { createAgentFleet } = await import('../../simulator/agent/agent-fleet.ts');
      const modelsDir = defaultModelsDir();
      if (!modelsDir)
        missing.push({
          part: 'anomaly model',
          reason: 'models/default/anomaly is not built: agents run without inference',
        });
      const fleet = await createAgentFleet({
        options,
        devices,
        endpointFor: () => ep,
        topics,
        credentials,
        series: new TimeSeries(now),
        modelsDir,
        trustedKeys: trustedKeys(o.dataDir),
        modelUpdates: true,
        dataDir: join(o.dataDir, 'agents'),
        keepData: true,
        onError: (id, err) => warn(`edgeloop up: agent ${id}: ${err.message}`),
      });
      await fleet.start();
      return {
        label: `fleet (${ids.length} agents${modelsDir ? ' with ONNX inference' : ''})`,
        close: () => fleet.close(),
        faults,
        shift: shiftInfo,
      };
    } catch (err) {
      if ((err as EdgeloopError).code !== 'EL_ERR_SIM_MODE_UNAVAILABLE') throw err;
      missing.push({ part: 'agent', reason: `${shortReason(err)}; using light-mode devices` });
    }
  }
  const { LightFleet } = await import('../../simulator/light/light-fleet.ts');
  const fleet = new LightFleet({
    devices,
    endpointFor: () => ep,
    topics,
    messageRate: o.rate,
    credentials,
    retry: { minMs: 200, maxMs: 5000 },
  });
  await fleet.start();
  return { label: `fleet (${ids.length} light-mode devices)`, close: () => fleet.close(), faults, shift: shiftInfo };
}
