import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { main } from '../../../cli/main.ts';
import { syntheticCsv } from './synthetic-csv.ts';

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'edgeloop-models-cli-'));
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function cli(args: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await main(['models', ...args], { stdout, stderr, cwd, env: {} });
  return { code, out, err };
}

const FAST = ['--epochs', '4', '--window', '8', '--hidden', '8,3', '--quiet'];

describe('edgeloop models (CLI)', () => {
  it('keygen → train anomaly (signed) → verify → score: flags the injected fault', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'normal.csv'), syntheticCsv({ rows: 300, seed: 1 }));
    writeFileSync(join(dir, 'faulty.csv'), syntheticCsv({ rows: 200, seed: 2, fault: [120, 160] }));

    const kg = await cli(['keygen', '--out', 'keys', '--name', 'ops'], dir);
    expect(kg.code, kg.err).toBe(0);
    expect(kg.out).toMatch(/^key [0-9a-f]{16}/);

    const tr = await cli(
      [
        'train',
        'anomaly',
        '--data',
        'normal.csv',
        '--out',
        'model',
        '--key',
        'keys/ops.key',
        '--created-at',
        '2026-01-01T00:00:00Z',
        ...FAST,
      ],
      dir,
    );
    expect(tr.code, tr.err).toBe(0);
    expect(tr.out).toMatch(/4 sensors \(temperature, vibration, pressure, current\)/);
    expect(tr.out).toMatch(/signed with key [0-9a-f]{16}/);
    const manifest = JSON.parse(readFileSync(join(dir, 'model', 'manifest.json'), 'utf8'));
    expect(manifest.inputs.window).toEqual({ length: 8, stride: 1 });
    expect(manifest.thresholdRule).toBe('99th percentile of training window scores x 1.5');

    const vf = await cli(['verify', '--model', 'model', '--key', 'keys/ops.pub'], dir);
    expect(vf.code, vf.err).toBe(0);
    expect(vf.out).toMatch(/^ok anomaly 1\.0\.0: signature by [0-9a-f]{16}, sha256 .* matches, test vector max error/);

    const sc = await cli(
      ['score', '--model', 'model', '--data', 'faulty.csv', '--out', 'scores.csv', '--key', 'keys/ops.pub'],
      dir,
    );
    expect(sc.code, sc.err).toBe(0);
    expect(sc.out).toMatch(/scored 193 of 200 rows/);
    const rows = readFileSync(join(dir, 'scores.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).toBe('row,timestamp,score,anomaly');
    expect(rows).toHaveLength(201);
    expect(rows[1]).toMatch(/^0,2026-01-01T00:00:00.000Z,,$/);
    const flags = rows.slice(1).map((l) => l.split(',')[3]);
    const inFault = flags.slice(130, 160).filter((f) => f === '1').length;
    const outside = flags.slice(7, 120).filter((f) => f === '1').length;
    expect(inFault).toBeGreaterThanOrEqual(25);
    expect(outside).toBeLessThanOrEqual(6);

    // --threshold overrides the manifest's; --smooth averages the last K row scores (never before the first window)
    const hi = await cli(
      ['score', '--model', 'model', '--data', 'faulty.csv', '--out', 'hi.csv', '--threshold', '1e9', '--smooth', '5'],
      dir,
    );
    expect(hi.code, hi.err).toBe(0);
    expect(hi.err).toMatch(/signature not checked \(no --key\)/);
    expect(hi.out).toMatch(/0 flagged \(score > 1000000000, trailing mean over 5\)/);
    const smoothed = readFileSync(join(dir, 'hi.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    expect(smoothed[6]![2]).toBe('');
    const raw = rows.slice(1).map((l) => Number(l.split(',')[2]));
    expect(Number(smoothed[11]![2])).toBeCloseTo((raw[7]! + raw[8]! + raw[9]! + raw[10]! + raw[11]!) / 5, 5);
  });

  it('train anomaly --smooth K writes decision.smoothing, and score decides with it unless --smooth overrides', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'normal.csv'), syntheticCsv({ rows: 300, seed: 1 }));
    writeFileSync(join(dir, 'faulty.csv'), syntheticCsv({ rows: 200, seed: 2, fault: [120, 160] }));
    const tr = await cli(
      [
        'train',
        'anomaly',
        '--data',
        'normal.csv',
        '--out',
        'model',
        '--smooth',
        '6',
        '--created-at',
        '2026-01-01T00:00:00Z',
        ...FAST,
      ],
      dir,
    );
    expect(tr.code, tr.err).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'model', 'manifest.json'), 'utf8'));
    expect(manifest.decision).toEqual({ smoothing: 6 });
    expect(manifest.thresholdRule).toBe(
      '99th percentile of training window scores (trailing mean over 6 windows) x 1.5',
    );
    const sc = await cli(['score', '--model', 'model', '--data', 'faulty.csv', '--out', 's.csv'], dir);
    expect(sc.code, sc.err).toBe(0);
    expect(sc.out).toMatch(/trailing mean over 6\)/);
    const one = await cli(
      ['score', '--model', 'model', '--data', 'faulty.csv', '--out', 'one.csv', '--smooth', '1'],
      dir,
    );
    expect(one.out).not.toMatch(/trailing mean/);
    const col = (f: string) =>
      readFileSync(join(dir, f), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(','));
    const smoothed = col('s.csv');
    const raw = col('one.csv').map((c) => Number(c[2]));
    expect(Number(smoothed[20]![2])).toBeCloseTo(raw.slice(15, 21).reduce((a, b) => a + b, 0) / 6, 5);
    const bad = await cli(
      ['score', '--model', 'model', '--data', 'faulty.csv', '--out', 'x.csv', '--smooth', '0'],
      dir,
    );
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/--smooth/);
  });

  it('sign signs an unsigned model; verify refuses the wrong key and a tampered file', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'normal.csv'), syntheticCsv({ rows: 120, seed: 3, separator: ';' }));
    expect((await cli(['keygen', '--out', 'k'], dir)).code).toBe(0);
    expect((await cli(['keygen', '--out', 'k2'], dir)).code).toBe(0);
    const tr = await cli(
      ['train', 'anomaly', '--data', 'normal.csv', '--out', 'm', ...FAST.filter((f) => f !== '--quiet')],
      dir,
    );
    expect(tr.code, tr.err).toBe(0);
    expect(tr.out).toMatch(/unsigned: sign it/);
    // progress on stderr: the final line always shows the last epoch and its loss
    expect(tr.err).toMatch(/train anomaly: epoch 4\/4 \(100%\) [0-9.]+s loss [0-9.]+\n$/);

    const unsigned = await cli(['verify', '--model', 'm', '--key', 'k/edgeloop.pub'], dir);
    expect(unsigned.code).toBe(1);
    expect(unsigned.err).toMatch(/not signed.*\[EL_ERR_MODEL_UNSIGNED\]/);
    expect((await cli(['verify', '--model', 'm', '--allow-unsigned'], dir)).out).toMatch(
      /UNSIGNED \(accepted by --allow-unsigned\)/,
    );

    const sg = await cli(['sign', '--model', 'm', '--key', 'k/edgeloop.key'], dir);
    expect(sg.code, sg.err).toBe(0);
    expect((await cli(['verify', '--model', 'm', '--key', 'k/edgeloop.pub'], dir)).code).toBe(0);

    const wrong = await cli(['verify', '--model', 'm', '--key', 'k2/edgeloop.pub'], dir);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/not among the trusted keys.*wrong key \[EL_ERR_MODEL_UNTRUSTED_KEY\]/);

    const onnxPath = join(dir, 'm', 'model.onnx');
    const bytes = readFileSync(onnxPath);
    bytes[bytes.length - 5]! ^= 1;
    writeFileSync(onnxPath, bytes);
    const tampered = await cli(['verify', '--model', 'm', '--key', 'k/edgeloop.pub'], dir);
    expect(tampered.code).toBe(1);
    expect(tampered.err).toMatch(/does not match its manifest.*\[EL_ERR_MODEL_HASH\]/);
    // signing refuses to vouch for a model file that does not match its manifest
    expect((await cli(['sign', '--model', 'm', '--key', 'k/edgeloop.key'], dir)).err).toMatch(/EL_ERR_MODEL_HASH/);
  });

  it('stops on bad data with messages naming the file, line and column', async () => {
    const dir = tmp();
    const good = syntheticCsv({ rows: 40, seed: 4 });
    writeFileSync(
      join(dir, 'nan.csv'),
      good.replace(/\n([^\n]*?),([0-9.]+),/, (_m, a) => `\n${a},NaN,`),
    );
    writeFileSync(join(dir, 'short.csv'), syntheticCsv({ rows: 5, seed: 5 }));
    writeFileSync(
      join(dir, 'text.csv'),
      good
        .split('\n')
        .map((l, i) => (i === 7 ? l.replace(/,[^,]+$/, ',n/a') : l))
        .join('\n'),
    );

    const missing = await cli(
      ['train', 'anomaly', '--data', 'nan.csv', '--out', 'o', '--sensors', 'temperature,humidity', ...FAST],
      dir,
    );
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(
      /nan\.csv: sensor column "humidity" not found \(columns: timestamp, temperature, vibration, pressure, current; separator ","\) \[EL_ERR_DATA_INVALID\]/,
    );

    const nan = await cli(['train', 'anomaly', '--data', 'nan.csv', '--out', 'o', ...FAST], dir);
    expect(nan.err).toMatch(
      /nan\.csv line 2, column "temperature": "NaN" is not a finite number \[EL_ERR_DATA_INVALID\]/,
    );

    const text = await cli(['train', 'anomaly', '--data', 'text.csv', '--out', 'o', ...FAST], dir);
    expect(text.err).toMatch(/text\.csv line 8, column "current": "n\/a" is not a finite number/);

    const short = await cli(['train', 'anomaly', '--data', 'short.csv', '--out', 'o', ...FAST], dir);
    expect(short.err).toMatch(/short\.csv: 5 rows, fewer than one window of 8 rows \[EL_ERR_DATA_INVALID\]/);

    const absent = await cli(['train', 'anomaly', '--data', 'absent.csv', '--out', 'o'], dir);
    expect(absent.err).toMatch(/cannot read .*absent\.csv/);
  });

  it('rejects bad flags and unknown commands with a one-line reason', async () => {
    const dir = tmp();
    expect((await cli(['train', 'anomaly', '--out', 'o'], dir)).err).toMatch(
      /edgeloop models: --data: missing \(expected --data VALUE\)/,
    );
    expect((await cli(['train', 'anomaly', '--data', 'x', '--out', 'o', '--window', '0'], dir)).err).toMatch(
      /edgeloop models: --window: invalid value "0" \(expected an integer >= 1\)/,
    );
    expect((await cli(['train', 'anomaly', '--data', 'x', '--out', 'o', '--windows', '8'], dir)).err).toMatch(
      /edgeloop models: --windows: unknown option/,
    );
    expect((await cli(['train', 'anomaly', '--data', 'x', '--out', 'o', '--key', 'nokey.pem'], dir)).err).toMatch(
      /cannot read key file .*nokey\.pem: ENOENT.*\[EL_ERR_MODEL_KEY\]$/m,
    );
    expect((await cli(['frobnicate'], dir)).err).toMatch(
      /edgeloop models: unknown subcommand "frobnicate" \(expected train, eval/,
    );
    expect((await cli(['eval', 'kdd'], dir)).err).toMatch(
      /edgeloop models eval: unknown benchmark "kdd" \(expected skab, ai4i, nab or cmapss\)/,
    );
    const helpOut = await cli(['--help'], dir);
    expect(helpOut.code).toBe(0);
    expect(helpOut.out).toMatch(/train anomaly/);
  });

  it('eval skab follows the protocol: trains on the first rows of each file and scores the rest', async () => {
    const dir = tmp();
    const data = join(dir, 'skab');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(data);
    // SKAB layout: ';'-separated, datetime first, anomaly and changepoint labels last
    for (const [i, fault] of [
      [0, [200, 240]],
      [1, [180, 220]],
    ] as const) {
      const csv = syntheticCsv({
        rows: 260,
        seed: 10 + i,
        stationary: true,
        separator: ';',
        fault: [fault[0], fault[1]],
        extra: {
          anomaly: (r) => (r >= fault[0] && r < fault[1] ? '1.0' : '0.0'),
          changepoint: (r) => (r === fault[0] ? '1.0' : '0.0'),
        },
      }).replace(/^timestamp/, 'datetime');
      writeFileSync(join(data, `${i}.csv`), csv);
    }
    const r = await cli(
      [
        'eval',
        'skab',
        '--data-dir',
        'skab',
        '--out',
        'rows.csv',
        '--train-rows',
        '140',
        '--epochs',
        '20',
        '--smooth',
        '3',
        '--quiet',
      ],
      dir,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/"sensors":\["temperature","vibration","pressure","current"\]/);
    const total = /total: F1 ([0-9.]+)\s+FAR ([0-9.]+) %\s+MAR ([0-9.]+) %/.exec(r.out);
    expect(total).not.toBeNull();
    expect(Number(total![1])).toBeGreaterThan(0.8);
    expect(Number(total![2])).toBeLessThan(15);
    const rows = readFileSync(join(dir, 'rows.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).toBe('file,row,score,predicted,label');
    expect(rows).toHaveLength(1 + 2 * 120);
    expect(rows[1]).toMatch(/^0\.csv,140,[0-9.e-]+,[01],0$/);
  });
});

describe('edgeloop models eval skab: SKAB layout', () => {
  function skabFile(seed: number, fault: [number, number]): string {
    return syntheticCsv({
      rows: 260,
      seed,
      stationary: true,
      separator: ';',
      fault,
      extra: {
        anomaly: (r) => (r >= fault[0] && r < fault[1] ? '1.0' : '0.0'),
        changepoint: (r) => (r === fault[0] ? '1.0' : '0.0'),
      },
    }).replace(/^timestamp/, 'datetime');
  }

  it('reads data/ recursively (valve1/, valve2/, other/), keys rows by relative path, skips anomaly-free/', async () => {
    const dir = tmp();
    const { mkdirSync } = await import('node:fs');
    for (const sub of ['valve1', 'valve2', 'other', 'anomaly-free'])
      mkdirSync(join(dir, 'data', sub), { recursive: true });
    // the same file name in two folders must stay two results
    writeFileSync(join(dir, 'data', 'valve1', '10.csv'), skabFile(21, [200, 240]));
    writeFileSync(join(dir, 'data', 'valve1', '2.csv'), skabFile(22, [190, 230]));
    writeFileSync(join(dir, 'data', 'valve2', '2.csv'), skabFile(23, [180, 220]));
    writeFileSync(join(dir, 'data', 'other', '9.csv'), skabFile(24, [210, 250]));
    // SKAB's normal-only file has no label columns: not part of the protocol's scoring
    const free = syntheticCsv({ rows: 260, seed: 25, stationary: true, separator: ';' }).replace(
      /^timestamp/,
      'datetime',
    );
    writeFileSync(join(dir, 'data', 'anomaly-free', 'anomaly-free.csv'), free);
    const r = await cli(
      [
        'eval',
        'skab',
        '--data-dir',
        'data',
        '--out',
        'rows.csv',
        '--train-rows',
        '140',
        '--epochs',
        '5',
        '--smooth',
        '3',
        '--quiet',
      ],
      dir,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/: 4 files, first 140 rows/);
    expect(r.out).toMatch(/skipped \(no label column\): anomaly-free\/anomaly-free\.csv/);
    const keys = [...r.out.matchAll(/^(\S+\.csv) +120 /gm)].map((m) => m[1]);
    expect(keys).toEqual(['other/9.csv', 'valve1/2.csv', 'valve1/10.csv', 'valve2/2.csv']);
    const rows = readFileSync(join(dir, 'rows.csv'), 'utf8').trim().split('\n').slice(1);
    expect(rows).toHaveLength(4 * 120);
    expect(new Set(rows.map((l) => l.split(',')[0]))).toEqual(
      new Set(['other/9.csv', 'valve1/2.csv', 'valve1/10.csv', 'valve2/2.csv']),
    );
    expect(rows.find((l) => l.startsWith('valve2/2.csv,'))).toMatch(/^valve2\/2\.csv,140,[0-9.e-]+,[01],0$/);
  });

  it("leaves SKAB's two temperature channels out by default; --drop-sensors none keeps them, an unknown one is refused", async () => {
    const dir = tmp();
    const csv = syntheticCsv({
      rows: 200,
      seed: 40,
      stationary: true,
      separator: ';',
      fault: [160, 190],
      extra: {
        Temperature: (r) => String(70 + r * 0.05),
        Thermocouple: (r) => String(26 + r * 0.01),
        anomaly: (r) => (r >= 160 && r < 190 ? '1.0' : '0.0'),
      },
    }).replace(/^timestamp/, 'datetime');
    writeFileSync(join(dir, '1.csv'), csv);
    const base = ['eval', 'skab', '--data-dir', '1.csv', '--train-rows', '140', '--epochs', '2', '--quiet'];
    const def = await cli(base, dir);
    expect(def.code, def.err).toBe(0);
    expect(def.out).toMatch(/"sensors":\["temperature","vibration","pressure","current"\]/);
    const all = await cli([...base, '--drop-sensors', 'none'], dir);
    expect(all.out).toMatch(
      /"sensors":\["temperature","vibration","pressure","current","Temperature","Thermocouple"\]/,
    );
    expect((await cli([...base, '--drop-sensors', 'Humidity'], dir)).err).toMatch(
      /cannot drop sensor\(s\) "Humidity": not among temperature, vibration/,
    );
  });

  it('--cross-validate prints one held-out line per file and the out-of-fold total', async () => {
    const dir = tmp();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'data', 'valve1'), { recursive: true });
    for (const [i, f] of [
      [0, [200, 240]],
      [1, [180, 220]],
      [2, [190, 250]],
    ] as const)
      writeFileSync(join(dir, 'data', 'valve1', `${i}.csv`), skabFile(30 + i, [f[0], f[1]]));
    const r = await cli(
      [
        'eval',
        'skab',
        '--data-dir',
        'data',
        '--cross-validate',
        '--cv-fit-rows',
        '100,140',
        '--out',
        'cv.csv',
        '--train-rows',
        '140',
        '--epochs',
        '5',
        '--quiet',
      ],
      dir,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/leave-one-file-out cross-validation over 3 files/);
    for (const k of ['valve1/0.csv', 'valve1/1.csv', 'valve1/2.csv'])
      expect(r.out).toMatch(
        new RegExp(`^${k.replace(/[./]/g, '\\$&')} +[0-9.]+ +[0-9.]+ +[0-9.]+ +fit (100|140), smooth \\d+, `, 'm'),
      );
    expect(r.out).toMatch(/out-of-fold total: F1 [0-9.]+ +FAR [0-9.]+ %/);
    expect(readFileSync(join(dir, 'cv.csv'), 'utf8').trim().split('\n')).toHaveLength(1 + 3 * 120);
    expect(
      (await cli(['eval', 'skab', '--data-dir', 'data', '--cross-validate', '--cv-max-far', '2', '--quiet'], dir)).err,
    ).toMatch(/--cv-max-far/);
  });
});
