/**
 * A configured model that is missing or does not verify stops the agent at start with its code (instead of a
 * logged stack trace and an agent running without inference), through `createAgent` and through `edgeloop agent`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createAgent } from '../../agent/create-agent.ts';
import type { AgentConfigInput } from '../../agent/config.ts';
import { main } from '../../cli/main.ts';
import { startTestBroker } from '../helpers/aedes-broker.ts';
import { writeTestModel } from './helpers/test-model.ts';
import { tempDir } from './helpers/temp-dir.ts';

function config(url: string, dir: string, extra: Partial<AgentConfigInput>): AgentConfigInput {
  return {
    deviceId: 'dev-1',
    dataDir: join(dir, 'data'),
    transport: { kind: 'mqtt', url, reconnect: { minMs: 20, maxMs: 200 } },
    ...extra,
  };
}

async function startAgent(cfg: AgentConfigInput): Promise<ReturnType<typeof createAgent>> {
  const agent = createAgent({ config: cfg });
  onTestFinished(() => agent.close(0));
  await agent.start();
  return agent;
}

describe('agent start with a configured model', () => {
  it('refuses a missing model directory unless inference is off', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    const missing = join(dir, 'no-such-model');
    await expect(startAgent(config(broker.url, dir, { models: { initial: [missing] } }))).rejects.toMatchObject({
      code: 'EL_ERR_AGENT_MODEL_DIR',
      message: expect.stringContaining(`models.initial: ${missing} has no manifest.json (set inference.enabled: false`),
    });
    const agent = await startAgent(
      config(broker.url, join(dir, 'b'), { models: { initial: [missing] }, inference: { enabled: false } }),
    );
    expect(agent.status().inference).toBeUndefined();
  });

  it('refuses a model whose ONNX bytes do not match its manifest, with the hash code', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    const modelDir = join(dir, 'model');
    writeTestModel(modelDir, { length: 4 });
    const onnx = readFileSync(join(modelDir, 'model.onnx'));
    onnx[onnx.length - 1] = onnx[onnx.length - 1]! ^ 0xff;
    writeFileSync(join(modelDir, 'model.onnx'), onnx);
    await expect(startAgent(config(broker.url, dir, { models: { initial: [modelDir] } }))).rejects.toMatchObject({
      code: 'EL_ERR_MODEL_HASH',
      message: expect.stringContaining(`models.initial: ${modelDir}:`),
    });
  });

  it('`edgeloop agent` exits 1 with a one-line reason and code', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const dir = tempDir();
    writeFileSync(
      join(dir, 'agent.yaml'),
      `deviceId: dev-1\ndataDir: ${join(dir, 'data')}\ntransport:\n  kind: mqtt\n  url: ${broker.url}\nmodels:\n  initial: [${join(dir, 'missing')}]\n`,
    );
    let err = '';
    const sink = (f: (s: string) => void) =>
      new Writable({
        write(c, _e, cb) {
          f(String(c));
          cb();
        },
      });
    const code = await main(['agent', '--config', join(dir, 'agent.yaml')], {
      stdout: sink(() => {}),
      stderr: sink((s) => (err += s)),
      env: {},
      cwd: dir,
    });
    expect(code).toBe(1);
    expect(err).toMatch(/has no manifest\.json .*\[EL_ERR_AGENT_MODEL_DIR\]/);
    expect(err).not.toMatch(/\n\s+at /); // no stack trace
  });
});
