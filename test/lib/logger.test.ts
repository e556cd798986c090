/**
 * The CLI logger: JSON lines or a human-readable line per entry, chosen by whether the log stream is a terminal
 * or by --log-format; no duplicate keys from repeated bindings; one 'offline' line per disconnect.
 */
import { generateKeyPairSync } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createCliLogger, formatPrettyLine, withBindings } from '../../lib/logger.ts';
import { createAgent } from '../../agent/create-agent.ts';
import { ModelUpdater } from '../../agent/model-updater/model-updater.ts';
import { startTestBroker } from '../helpers/aedes-broker.ts';
import { tempDir } from '../agent/helpers/temp-dir.ts';

/** A pino logger writing into an array of raw JSON lines. */
function capture(level = 'debug'): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: pino({ level, base: undefined }, stream), lines };
}

/** Keys written more than once at the top level of a JSON line (JSON.parse would silently keep the last one). */
function duplicates(line: string): string[] {
  const top = [...line.matchAll(/[{,]"([^"]+)":/g)].map((m) => m[1]!);
  return top.filter((k, i) => top.indexOf(k) !== i);
}

describe('createCliLogger', () => {
  it('writes JSON lines when the stream is not a terminal, pretty lines on a terminal or with format: pretty', () => {
    const dir = tempDir();
    const file = join(dir, 'log');
    const fd = openSync(file, 'w');
    onTestFinished(() => closeSync(fd));
    createCliLogger({ fd, isTTY: false }).info({ part: 'broker', clients: 3 }, 'listening');
    createCliLogger({ fd, format: 'pretty', isTTY: false }).warn(
      { part: 'ingest', deviceId: 'pump-7', reason: 'too big' },
      'refused',
    );
    createCliLogger({ fd, isTTY: true, level: 'warn' }).info('not at warn');
    const [json, pretty, ...rest] = readFileSync(file, 'utf8').split('\n');
    expect(JSON.parse(json!)).toMatchObject({ level: 30, part: 'broker', clients: 3, msg: 'listening' });
    expect(pretty).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN  ingest pump-7 refused reason="too big"$/);
    expect(rest.filter(Boolean)).toEqual([]);
  });

  it('formatPrettyLine: errors print message, code and stack; non-JSON passes through', () => {
    const err = Object.assign(new Error('boom'), { code: 'EL_ERR_X' });
    const { logger, lines } = capture();
    logger.error({ err }, 'failed');
    const out = formatPrettyLine(lines[0]!);
    expect(out.split('\n')[0]).toMatch(/ ERROR failed err="boom" code=EL_ERR_X$/);
    expect(out.split('\n')[1]).toMatch(/^\s+at /);
    expect(formatPrettyLine('plain text\n')).toBe('plain text');
    expect(formatPrettyLine(lines[0]!, { color: true })).toContain('\x1b[31mERROR');
  });
});

describe('log lines', () => {
  it('withBindings adds only the bindings a logger does not carry already', () => {
    const { logger, lines } = capture();
    const agentLog = logger.child({ deviceId: 'pump-7' });
    withBindings(agentLog, { deviceId: 'pump-7', part: 'model-updater' }).info('x');
    expect(duplicates(lines[0]!)).toEqual([]);
    expect(JSON.parse(lines[0]!)).toMatchObject({ deviceId: 'pump-7', part: 'model-updater' });
  });

  it('the model updater under an agent logger writes deviceId once', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'models'), { recursive: true });
    writeFileSync(join(dir, 'models', 'updater-state.json'), '{not json');
    const { logger, lines } = capture();
    const key = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const transport = Object.assign(new EventEmitter(), { connected: false });
    const updater = new ModelUpdater({
      deviceId: 'pump-7',
      transport: transport as never,
      host: {} as never,
      modelsDir: join(dir, 'models'),
      trustedKeys: [key],
      logger: logger.child({ deviceId: 'pump-7' }),
    });
    onTestFinished(() => updater.close());
    await updater.start();
    const line = lines.find((l) => l.includes('updater state unreadable'));
    expect(line).toBeDefined();
    expect(duplicates(line!)).toEqual([]);
    expect(JSON.parse(line!)).toMatchObject({ deviceId: 'pump-7', part: 'model-updater' });
  });

  it('an agent logs one "offline" line per disconnect', async () => {
    const broker = await startTestBroker();
    onTestFinished(() => broker.close());
    const { logger, lines } = capture('info');
    const agent = createAgent({
      config: {
        deviceId: 'dev-off',
        dataDir: tempDir(),
        transport: { kind: 'mqtt', url: broker.url, reconnect: { minMs: 20, maxMs: 100 } },
      },
      logger,
    });
    onTestFinished(() => agent.close(0));
    await agent.start();
    const connected = (): number => lines.filter((l) => JSON.parse(l).msg === 'connected').length;
    await expect.poll(connected, { timeout: 10_000 }).toBe(1);
    await broker.stop();
    await expect.poll(() => lines.some((l) => JSON.parse(l).msg === 'offline'), { timeout: 10_000 }).toBe(true);
    await broker.restart();
    await expect.poll(connected, { timeout: 10_000 }).toBe(2);
    expect(lines.filter((l) => JSON.parse(l).msg === 'offline')).toHaveLength(1);
  }, 30_000);
});
