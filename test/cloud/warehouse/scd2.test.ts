import { describe, expect, it } from 'vitest';
import { buildDeviceVersions, type DeviceObservation } from '../../../cloud/warehouse/scd2.ts';

const o = (ts: number, attrs: DeviceObservation['attrs'], seq = ts, deviceId = 'd1'): DeviceObservation => ({
  deviceId,
  ts,
  seq,
  attrs,
});
const brief = (vs: ReturnType<typeof buildDeviceVersions>) =>
  vs.map((v) => [v.deviceKey, v.validFrom, v.validTo, v.isCurrent, v.modelVersion, v.site]);

describe('buildDeviceVersions (SCD Type 2)', () => {
  it('opens a version at each change, half-open ranges, one current; unchanged snapshots add nothing', () => {
    const vs = buildDeviceVersions([
      o(100, { modelName: 'm', modelVersion: '1', site: 's' }),
      o(150, { modelName: 'm', modelVersion: '1' }),
      o(200, { modelName: 'm', modelVersion: '2' }),
      o(300, { modelName: 'm', modelVersion: '3' }),
    ]);
    expect(brief(vs)).toEqual([
      ['d1#1', 100, 200, false, '1', 's'],
      ['d1#2', 200, 300, false, '2', 's'],
      ['d1#3', 300, null, true, '3', 's'],
    ]);
  });

  it('orders by device time whatever the arrival order: a late observation lands in its place', () => {
    const inOrder = buildDeviceVersions([o(100, { site: 'a' }), o(200, { site: 'b' }), o(300, { site: 'c' })]);
    const late = buildDeviceVersions([o(300, { site: 'c' }), o(100, { site: 'a' }), o(200, { site: 'b' })]);
    expect(late).toEqual(inOrder);
  });

  it('a late observation between two versions splits the range it falls in', () => {
    const vs = buildDeviceVersions([
      o(100, { modelVersion: '1' }),
      o(300, { modelVersion: '2' }),
      o(200, { site: 'x' }),
    ]);
    expect(brief(vs)).toEqual([
      ['d1#1', 100, 200, false, '1', null],
      ['d1#2', 200, 300, false, '1', 'x'],
      ['d1#3', 300, null, true, '2', 'x'],
    ]);
  });

  it('two states at one instant: the later (by seq) wins, no zero-length version; a return to the previous state merges', () => {
    expect(
      brief(buildDeviceVersions([o(100, { site: 'a' }, 1), o(200, { site: 'b' }, 2), o(200, { site: 'c' }, 3)])),
    ).toEqual([
      ['d1#1', 100, 200, false, null, 'a'],
      ['d1#2', 200, null, true, null, 'c'],
    ]);
    expect(
      brief(buildDeviceVersions([o(100, { site: 'a' }, 1), o(200, { site: 'b' }, 2), o(200, { site: 'a' }, 3)])),
    ).toEqual([['d1#1', 100, null, true, null, 'a']]);
  });

  it('the first version starts at the first reading when it came before the first status; a device with readings only gets one unknown version', () => {
    const vs = buildDeviceVersions(
      [o(100, { site: 'a' })],
      new Map([
        ['d1', 40],
        ['d2', 70],
      ]),
    );
    expect(brief(vs)).toEqual([
      ['d1#1', 40, null, true, null, 'a'],
      ['d2#1', 70, null, true, null, null],
    ]);
  });
});
