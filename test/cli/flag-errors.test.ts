/**
 * One shape for every command's flag and argument errors, `edgeloop <cmd>: --flag: what was wrong (expected …)`,
 * and exit status 2; checked on the real command in child processes.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { DEAD_LETTER_REASONS } from '../../cloud/dlq/sqlite-dlq.ts';
import { runCli, tempCwd } from './cli-process.ts';

const CASES: Array<{ args: string[]; line: string }> = [
  {
    args: ['up', '--devices', 'many'],
    line: 'edgeloop up: --devices: invalid value "many" (expected an integer in [0, 100000])',
  },
  { args: ['up', '--mode', 'heavy'], line: 'edgeloop up: --mode: invalid value "heavy" (expected one of agent|light)' },
  { args: ['up', '--port'], line: 'edgeloop up: --port: needs a value (expected --port VALUE)' },
  {
    args: ['dlq', 'list', '--limit', '0'],
    line: 'edgeloop dlq: --limit: invalid value "0" (expected an integer >= 1)',
  },
  {
    args: ['dlq', 'list', '--reason', 'bogus'],
    line: `edgeloop dlq: --reason: invalid value "bogus" (expected one of ${DEAD_LETTER_REASONS.join('|')})`,
  },
  { args: ['agent'], line: 'edgeloop agent: --config: missing (expected FILE, or EDGELOOP_CONFIG set)' },
  {
    args: ['cloud', '--bogus'],
    line: 'edgeloop cloud: --bogus: unknown option (expected one of --config, --only, --data-dir, --check, --log-level, --log-format; see edgeloop cloud --help)',
  },
  {
    args: ['cloud', '--check', '--log-level', 'loud'],
    line: 'edgeloop cloud: --log-level: invalid value "loud" (expected one of fatal|error|warn|info|debug|trace|silent)',
  },
  {
    args: ['recommend', '--port', '99999'],
    line: 'edgeloop recommend: --port: invalid value "99999" (expected <= 65535)',
  },
  {
    args: ['models', 'train', 'anomaly', '--data', 'x.csv', '--out', 'o', '--window', '0'],
    line: 'edgeloop models: --window: invalid value "0" (expected an integer >= 1)',
  },
  { args: ['plan', '--devices', 'many'], line: 'edgeloop plan: --devices: invalid value "many" (expected a number)' },
  {
    args: ['sim', '--duration', 'soon'],
    line: 'edgeloop sim: --duration: invalid value "soon" (expected a duration: 10, 10s, 500ms, 2m)',
  },
  {
    args: ['rollout', 'start', 'pump'],
    line: 'edgeloop rollout start: "pump": not MODEL@VERSION (expected edgeloop rollout start MODEL@VERSION [options])',
  },
  {
    args: ['registry', 'serve', '--port', 'x'],
    line: 'edgeloop registry serve: --port: invalid value "x" (expected an integer in [0, 65535])',
  },
  {
    args: ['features', 'get'],
    line: 'edgeloop features: missing DEVICE (expected features get DEVICE [--group NAME]; see edgeloop features --help)',
  },
];

describe('flag errors', () => {
  it('every command prints one line `edgeloop <cmd>: --flag: what (expected …)` and exits 2', async () => {
    const cwd = tempCwd();
    const results = await Promise.all(CASES.map((c) => runCli(c.args, { cwd })));
    for (const [i, r] of results.entries()) {
      expect({ args: CASES[i]!.args, code: r.code, stderr: r.stderr }).toEqual({
        args: CASES[i]!.args,
        code: 2,
        stderr: CASES[i]!.line + '\n',
      });
      expect(r.stdout).toBe('');
    }
  }, 120_000);

  it('an unknown command is a usage error too; errors that are not about flags keep exit 1 and their code', async () => {
    const sink = () => {
      let text = '';
      return {
        stream: { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream,
        text: () => text,
      };
    };
    const err = sink();
    const cwd = tempCwd();
    expect(await main(['frobnicate'], { stdout: sink().stream, stderr: err.stream, env: {}, cwd })).toBe(2);
    expect(err.text()).toBe(
      'edgeloop frobnicate: unknown command (expected one of up, agent, cloud, models, features, dlq, warehouse, registry, rollout, recommend, sim, drift, retrain, plan; see edgeloop --help)\n',
    );
    const err2 = sink();
    expect(
      await main(['agent', '--config', 'absent.yaml'], { stdout: sink().stream, stderr: err2.stream, env: {}, cwd }),
    ).toBe(1);
    expect(err2.text()).toMatch(
      /^edgeloop agent: .*absent\.yaml: cannot read config file .*\[EL_ERR_CONFIG_INVALID\]\n$/,
    );
  });
});
