/**
 * `up`'s cloud: the embedded cloud with generated device passwords, the registry, recommend, maintenance and rollout
 * parts, and the closed loop on the shipped anomaly model (drift monitors, retraining, shadow-first rollouts:
 * cli/up/drift-loop.ts).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { portOr, SIM_SERVICE, trustedKeys } from '../up-state.ts';
import { defaultModelsDir } from '../../simulator/create-fleet-driver.ts';
import { type LoopConfig, prepareLoop, registerShippedModel } from './drift-loop.ts';
import { shortReason, type Secrets, type UpOptions } from './types.ts';

/** The recommender's raw features ← the processor's latest value of each simulated sensor. */
const SIM_TO_RECOMMENDER: Record<string, string> = {
  air_temperature_k: 'air_temp_last',
  process_temperature_k: 'process_temp_last',
  rotational_speed_rpm: 'rpm_last',
  torque_nm: 'torque_last',
  tool_wear_min: 'tool_wear_last',
};

export function loadSecrets(path: string, ids: string[]): Secrets {
  let s: Secrets = { dashboard: '', sim: '', devices: {} };
  if (existsSync(path)) {
    try {
      s = JSON.parse(readFileSync(path, 'utf8')) as Secrets;
    } catch {
      /* regenerate */
    }
  }
  const pw = (): string => randomBytes(18).toString('base64url');
  let changed = !s.dashboard || !s.sim;
  s.dashboard ||= pw();
  s.sim ||= pw();
  s.devices ??= {};
  for (const id of ids) {
    if (!s.devices[id]) {
      s.devices[id] = pw();
      changed = true;
    }
  }
  if (changed) writeFileSync(path, JSON.stringify(s, null, 2), { mode: 0o600 });
  return s;
}

export async function startCloud(
  o: UpOptions,
  secrets: Secrets,
  ids: string[],
  warn: (s: string) => void,
  missing: Array<{ part: string; reason: string }>,
): Promise<{
  cloud: Awaited<ReturnType<typeof import('../../cloud/create-cloud.ts').createCloud>>;
  mqttUrl: string;
  parts: string[];
}> {
  const { createCloud } = await import('../../cloud/create-cloud.ts');
  const { parseCloudConfig } = await import('../../cloud/config.ts');
  const { hashPassword } = await import('../../cloud/broker/password-hash.ts');
  const cloudDir = join(o.dataDir, 'cloud');
  mkdirSync(cloudDir, { recursive: true });
  // scrypt N=4096: these are generated local passwords; cheaper hashing keeps a 1000-device start quick
  const params = { N: 4096, r: 8, p: 1 };
  const devices: Record<string, string> = {};
  for (const id of ids) devices[id] = await hashPassword(secrets.devices[id]!, params);
  const credentialsFile = join(cloudDir, 'credentials.json');
  writeFileSync(
    credentialsFile,
    JSON.stringify(
      {
        devices,
        services: {
          dashboard: await hashPassword(secrets.dashboard, params),
          [SIM_SERVICE]: await hashPassword(secrets.sim, params),
        },
      },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  const config = parseCloudConfig({
    dataDir: cloudDir,
    logLevel: 'warn',
    broker: { mode: 'embedded', embedded: { host: '127.0.0.1', port: 0, credentialsFile } },
    http: { enabled: true, host: '127.0.0.1', port: 0 },
  } as never);
  const extra: Array<{ name: string; def: unknown }> = [];
  // the parts that serve a shipped model run when it is built, each on its own port; the maintenance part (RUL per
  // device, docs/predict-maintenance.md) scores the devices that report its model's sensors and ignores the others
  const serving = async (name: string, load: () => Promise<{ dir: string; def: () => unknown }>): Promise<void> => {
    try {
      const { dir, def } = await load();
      if (!existsSync(join(dir, 'manifest.json')))
        throw new Error(`models/default/${basename(dir)} is not built (npm run models:build)`);
      extra.push({ name, def: def() });
    } catch (err) {
      missing.push({ part: name, reason: shortReason(err) });
    }
  };
  await serving('recommend', async () => {
    const rec = await import('../../cloud/recommend/recommend-part.ts');
    return {
      dir: rec.DEFAULT_RECOMMENDER_DIR,
      def: () => rec.recommendPartDef({ port: 0, featureMap: SIM_TO_RECOMMENDER }, { cwd: o.dataDir }),
    };
  });
  await serving('maintenance', async () => {
    const m = await import('../../cloud/parts/maintenance.ts');
    return { dir: m.DEFAULT_RUL_DIR, def: () => m.maintenancePartDef({ port: 0 }) };
  });
  // the registry (the cloud's own part: the retraining job needs it) starts before recommend, which resolves models
  // through it, falling back to the shipped model's directory; it is there for pushes and rollouts too
  // (edgeloop registry push --url ...). The rollout controller gets a service identity from the embedded broker.
  const modelDir = defaultModelsDir();
  let loop: LoopConfig | undefined;
  try {
    loop = await prepareLoop(o, cloudDir, modelDir);
    if (!loop)
      missing.push({ part: 'drift loop', reason: 'models/default/anomaly is not built (npm run models:build)' });
  } catch (err) {
    missing.push({ part: 'drift loop', reason: shortReason(err) });
  }
  const c = config as Record<string, unknown>;
  c.registry = {
    dataDir: join(cloudDir, 'registry'),
    port: o.registryPort ?? (await portOr(8081)),
    trustedKeys: trustedKeys(o.dataDir),
  };
  c.rollout = {
    http: { port: o.rolloutPort ?? (await portOr(8082)) },
    candidates: loop?.candidates ?? { approve: 'off' },
  };
  if (loop) {
    c.drift = loop.drift;
    c.retrain = loop.retrain;
  }
  // start with every extra part; if one of them fails, start again without it and say so
  for (;;) {
    const cloud = createCloud(config, { extraParts: extra.map((e) => e.def) as never, cwd: o.dataDir });
    try {
      await cloud.start();
      const registry = cloud.parts.get('registry')?.instance as {
        registry?: Parameters<typeof registerShippedModel>[0];
      };
      if (modelDir && registry?.registry)
        await registerShippedModel(registry.registry, modelDir).catch((err: unknown) =>
          warn(
            `edgeloop up: the shipped model could not be registered (${shortReason(err)}); retraining has no champion`,
          ),
        );
      return { cloud, mqttUrl: cloud.urls.mqtt!, parts: [...cloud.parts.keys()] };
    } catch (err) {
      await cloud.close().catch(() => {});
      const failing =
        extra.find(
          (e) =>
            (err as Error).message.includes(`"${e.name}"`) || (err as Error).message.toLowerCase().includes(e.name),
        ) ?? extra.at(-1);
      if (!failing) throw err;
      extra.splice(extra.indexOf(failing), 1);
      missing.push({ part: failing.name, reason: `failed to start: ${shortReason(err)}` });
      warn(`edgeloop up: ${failing.name} failed to start (${shortReason(err)}); starting without it`);
    }
  }
}
