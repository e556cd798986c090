/**
 * dim_device as a Slowly Changing Dimension of Type 2 (pure logic, no I/O).
 *
 * Sources, all from the stream (through the raw archive):
 *   - status messages: agentVersion, the first of `models` (name, version), and the optional site, hardware and
 *     configHash (protocol/messages.ts);
 *   - model reports in state 'active': the model and version a device switched to (rollouts included: the
 *     controller's rollouts reach devices as desired-model messages, and the devices report 'active');
 *   - readings and events: only when a device was first seen (`firstSeen`), to open its first version early.
 * A field a message does not carry keeps its previous value (an older agent sends no site).
 *
 * Each device's observations are folded in device-time order (ts, then seq), whatever order they arrived in, so a
 * late or out-of-order message lands in the version it belongs to and the ranges after it are rebuilt. A new
 * version starts when an attribute changes, at that observation's ts; validity is half-open, [valid_from,
 * valid_to), valid_to null for the current version. The first version starts at the earliest of the device's first
 * observation and its first reading/event, so every fact of a device falls inside one version.
 */
export interface DeviceAttributes {
  site: string | null;
  hardware: string | null;
  agentVersion: string | null;
  modelName: string | null;
  modelVersion: string | null;
  configHash: string | null;
}

export const DEVICE_ATTRIBUTES = [
  'site',
  'hardware',
  'agentVersion',
  'modelName',
  'modelVersion',
  'configHash',
] as const satisfies readonly (keyof DeviceAttributes)[];

export interface DeviceObservation {
  deviceId: string;
  /** device time, ms */
  ts: number;
  /** the message's seq; orders observations of one ms */
  seq: number;
  /** the attributes the message states (undefined: not stated, keep the previous value) */
  attrs: Partial<DeviceAttributes>;
}

export interface DeviceVersion extends DeviceAttributes {
  /** `<deviceId>#<version>` */
  deviceKey: string;
  deviceId: string;
  /** 1, 2, ... in validity order */
  version: number;
  validFrom: number;
  /** exclusive; null for the current version */
  validTo: number | null;
  isCurrent: boolean;
}

const EMPTY: DeviceAttributes = {
  site: null,
  hardware: null,
  agentVersion: null,
  modelName: null,
  modelVersion: null,
  configHash: null,
};

function same(a: DeviceAttributes, b: DeviceAttributes): boolean {
  return DEVICE_ATTRIBUTES.every((k) => a[k] === b[k]);
}

/**
 * Build every device's versions. `firstSeen`: per device, the ts of its earliest reading or event (devices with
 * facts but no status get one version with unknown attributes). Output ordered by device id, then version.
 */
export function buildDeviceVersions(
  observations: Iterable<DeviceObservation>,
  firstSeen: ReadonlyMap<string, number> = new Map(),
): DeviceVersion[] {
  const byDevice = new Map<string, DeviceObservation[]>();
  for (const o of observations) {
    const list = byDevice.get(o.deviceId);
    if (list) list.push(o);
    else byDevice.set(o.deviceId, [o]);
  }
  for (const id of firstSeen.keys()) if (!byDevice.has(id)) byDevice.set(id, []);
  const out: DeviceVersion[] = [];
  for (const id of [...byDevice.keys()].sort()) {
    const obs = byDevice.get(id)!.sort((a, b) => a.ts - b.ts || a.seq - b.seq);
    const versions: { from: number; attrs: DeviceAttributes }[] = [];
    for (const o of obs) {
      const cur = versions.at(-1);
      const next: DeviceAttributes = { ...(cur?.attrs ?? EMPTY) };
      for (const k of DEVICE_ATTRIBUTES) {
        const v = o.attrs[k];
        if (v !== undefined) next[k] = v;
      }
      if (!cur) versions.push({ from: o.ts, attrs: next });
      else if (same(cur.attrs, next)) continue;
      // two states at one instant: the later one is the state from that instant on
      else if (cur.from === o.ts) {
        cur.attrs = next;
        const prev = versions.at(-2);
        if (prev && same(prev.attrs, next)) versions.pop();
      } else versions.push({ from: o.ts, attrs: next });
    }
    const seen = firstSeen.get(id);
    if (versions.length === 0) versions.push({ from: seen!, attrs: { ...EMPTY } });
    else if (seen !== undefined && seen < versions[0]!.from) versions[0]!.from = seen;
    versions.forEach((v, i) => {
      const to = versions[i + 1]?.from ?? null;
      out.push({
        deviceKey: `${id}#${i + 1}`,
        deviceId: id,
        version: i + 1,
        validFrom: v.from,
        validTo: to,
        isCurrent: to === null,
        ...v.attrs,
      });
    });
  }
  return out;
}
