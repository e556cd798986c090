/**
 * `edgeloop plan`: text and --json output for the documented 10,000-device fleet, a YAML fleet file with flags over
 * it, bad input (flags, misspelt fields, a broken hard limit, a bad price table) with the error that names it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../../cli/main.ts';
import { runCli, tempCwd } from '../cli-process.ts';

async function plan(args: string[], cwd = tempCwd()): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) =>
    new Writable({
      write(c, _e, cb) {
        f(String(c));
        cb();
      },
    });
  const code = await main(['plan', ...args], {
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    env: {},
    cwd,
  });
  return { code, out, err };
}

describe('edgeloop plan', () => {
  it('prints the plan of 10,000 devices at one reading per second, as docs/plan.md shows it', async () => {
    const root = join(import.meta.dirname, '..', '..', '..');
    const r = await runCli(['plan', '--devices', '10000'], { cwd: root });
    expect(r.code).toBe(0);
    const doc = readFileSync(join(root, 'docs', 'plan.md'), 'utf8');
    const shown = /npx edgeloop plan --devices 10000\n```\n\n```\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(shown, 'the worked example of docs/plan.md').toBe(r.stdout);
    expect(r.stdout).toMatch(/^edgeloop plan: 10,000 devices × 1 reading\/s = 10,000 readings\/s/);
    expect(r.stdout).toMatch(/Kinesis +12 shards: 10,003 records\/s/);
    expect(r.stdout).toMatch(/IoT Core messaging +28,040,212,500 metered messages +28,040\.21 +40\.3 %\n/);
    expect(r.stdout).toMatch(
      /Feature Store writes +26,288,212,500 write request units +32,860\.27 +47\.2 % +\(price to be confirmed\)/,
    );
    expect(r.stdout).toMatch(/per reading +\$0\.0000026 +0\.22 % of the reference \$0\.0012 per event/);
    expect(r.stdout).toMatch(/EC2 m7g\.large instance +730 instance-hours +59\.57 +12\.1 %/);
  }, 60_000);

  it('--json: the fleet, the needs and both cost summaries', async () => {
    const r = await plan(['--devices', '10000', '--batch-size', '60', '--json']);
    expect(r.code).toBe(0);
    const p = JSON.parse(r.out);
    expect(p.fleet).toMatchObject({ devices: 10000, batchSize: 60, windows: [60] });
    expect(p.prices).toEqual({ region: 'us-east-1', compiled: '2026-12-03' });
    // 10,000 / 60 = 166.7 telemetry messages/s of 60 + 60 × 60 = 3,660 B (+ 40 B topic: one 5 KB metered message)
    expect(p.load.telemetryMessageBytes).toBe(3660);
    expect(p.iot.meteredPerTelemetryMessage).toBe(1);
    expect(p.kinesis.shards).toBe(1);
    expect(p.aws.lines).toHaveLength(10);
    expect(p.vm).toMatchObject({ fits: true, vms: 1 });
  });

  it('reads a YAML fleet file; flags override it', async () => {
    const cwd = tempCwd();
    writeFileSync(
      join(cwd, 'fleet.yaml'),
      'devices: 500\nreadingsPerSecond: 2\nbatchSize: 20\nwindows: [60, 300]\nlambda: { memoryMb: 512 }\n',
    );
    const p = JSON.parse((await plan(['--fleet', 'fleet.yaml', '--devices', '1000', '--json'], cwd)).out);
    expect(p.fleet).toMatchObject({
      devices: 1000,
      readingsPerSecond: 2,
      batchSize: 20,
      windows: [60, 300],
      lambda: { memoryMb: 512 },
    });
    expect(p.load.readingsPerSecond).toBe(2000);
    expect(p.lambda.batchingWindowSeconds).toBe(300);
  });

  it('bad input: a flag (exit 2), a misspelt field, a broken hard limit, a bad price table (exit 1)', async () => {
    expect(await plan(['--devices', 'many'])).toMatchObject({
      code: 2,
      err: 'edgeloop plan: --devices: invalid value "many" (expected a number)\n',
    });
    expect((await plan(['--devices', '0'])).err).toBe('edgeloop plan: --devices: invalid value 0 (expected > 0)\n');
    expect((await plan(['--devices', '10', '--windows', '60,x'])).err).toMatch(
      /^edgeloop plan: --windows: invalid value "60,x" \(expected seconds, comma-separated/,
    );
    expect(await plan([])).toMatchObject({
      code: 2,
      err: 'edgeloop plan: no fleet (expected --devices N, or --fleet FILE)\n',
    });
    const cwd = tempCwd();
    writeFileSync(join(cwd, 'nodevices.yaml'), 'readingsPerSecond: 2\n');
    expect((await plan(['--fleet', 'nodevices.yaml'], cwd)).err).toMatch(
      /nodevices\.yaml: devices: .*\[EL_ERR_CONFIG_INVALID\]/,
    );
    writeFileSync(join(cwd, 'fleet.yaml'), 'devices: 10\nreadingsPerSec: 2\n');
    const typo = await plan(['--fleet', 'fleet.yaml'], cwd);
    expect(typo.code).toBe(1);
    expect(typo.err).toMatch(/fleet\.yaml: .*readingsPerSec.*\[EL_ERR_CONFIG_INVALID\]/);
    const big = await plan(['--devices', '10', '--batch-size', '5000']);
    expect(big).toMatchObject({
      code: 1,
      err: expect.stringMatching(
        /over IoT Core's 131072 bytes per message: set batchSize to at most 2183 \[EL_ERR_PLAN_LIMIT\]/,
      ),
    });
    writeFileSync(
      join(cwd, 'prices.json'),
      JSON.stringify({ region: 'x', currency: 'USD', compiled: 'today', prices: {} }),
    );
    const prices = await plan(['--devices', '10', '--prices', 'prices.json'], cwd);
    expect(prices).toMatchObject({
      code: 1,
      err: expect.stringMatching(/prices\.json: compiled: .*\[EL_ERR_PLAN_PRICES\]/),
    });
  });
});
