/**
 * deploy/docker/ without a container engine: the Dockerfiles are multi-stage, end as a non-root user with a
 * HEALTHCHECK, copy only what their build context holds after .dockerignore and start an entry point that exists;
 * the cloud image's HEALTHCHECK command, run for real against `edgeloop cloud` started with the image's config
 * (on free ports, broker = a real mosquitto), exits 0 while it serves and non-zero once it stopped; compose.yaml
 * names existing files, its mosquitto has `max_queued_messages 0` and its Prometheus config passes promtool.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { distIsFresh } from '../../scripts/build-info.mjs';
import { artifactName } from '../../scripts/pack-agent.mjs';
import { runCli, startCli, type CliProcess } from '../cli/cli-process.ts';
import {
  contextFiles,
  copySourceMatches,
  dockerignoreMatcher,
  parseDockerfile,
  type Stage,
} from '../helpers/dockerfile.ts';
import { freePort, startMosquitto } from '../helpers/mosquitto.ts';
import { runPromtool } from '../helpers/promtool.ts';

const root = resolve(import.meta.dirname, '..', '..');
const dockerDir = join(root, 'deploy', 'docker');
const read = (p: string): string => readFileSync(p, 'utf8');
const cloudStages = parseDockerfile(read(join(dockerDir, 'cloud.Dockerfile')));
const agentStages = parseDockerfile(read(join(dockerDir, 'agent.Dockerfile')));
const VERSION = (JSON.parse(read(join(root, 'package.json'))) as { version: string }).version;

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'el-containers-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const last = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op).at(-1);

/** WORKDIR in effect before instruction `index` of a stage */
function workdir(stage: Stage, index: number): string {
  let wd = '/';
  for (const i of stage.instructions.slice(0, index)) if (i.op === 'WORKDIR') wd = posix.resolve(wd, i.words[0]!);
  return wd;
}

/**
 * Where an absolute path of stage `stageIndex` comes from: the context path a COPY put there (following
 * COPY --from into earlier stages), or undefined when no COPY wrote it (a RUN made it).
 */
function origin(stages: Stage[], stageIndex: number, path: string): string | undefined {
  const stage = stages[stageIndex]!;
  for (let k = stage.instructions.length - 1; k >= 0; k--) {
    const ins = stage.instructions[k]!;
    if (ins.op !== 'COPY') continue;
    const [src, dest] = ins.words as [string, string];
    const to = posix.resolve(workdir(stage, k), dest);
    if (path !== to && !path.startsWith(to + '/')) continue;
    const rest = path.slice(to.length);
    const from = ins.flags.from;
    if (from === undefined) return posix.join(src, rest);
    const fromIndex = stages.findIndex((s) => s.name === from);
    return origin(stages, fromIndex, posix.join(src, rest));
  }
  return undefined;
}

describe('dockerignoreMatcher (Docker pattern rules)', () => {
  const m = dockerignoreMatcher('# c\nnode_modules\n*.tgz\n/dist\nbench/**/*.json\ndocs\n!docs/keep.md\n');
  it('matches at the context root only unless ** says so, and everything below a matched folder', () => {
    expect(m('node_modules')).toBe(true);
    expect(m('node_modules/a/b.js')).toBe(true);
    expect(m('a.tgz')).toBe(true);
    expect(m('sub/a.tgz')).toBe(false);
    expect(m('dist/cli/main.js')).toBe(true);
    expect(m('bench/results/x/y.json')).toBe(true);
    expect(m('bench/x.ts')).toBe(false);
    expect(m('node_modulesx')).toBe(false);
  });
  it('re-includes with ! (the last matching rule wins), also below an ignored folder', () => {
    expect(m('docs/agent.md')).toBe(true);
    expect(m('docs/keep.md')).toBe(false);
    const ctx = tempDir();
    mkdirSync(join(ctx, 'docs'));
    for (const f of ['docs/keep.md', 'docs/agent.md', 'a.tgz', 'b.ts']) writeFileSync(join(ctx, f), '');
    expect(contextFiles(ctx, m).sort()).toEqual(['b.ts', 'docs/keep.md']);
    expect(contextFiles(ctx, dockerignoreMatcher('docs\n*.tgz')).sort()).toEqual(['b.ts']);
  });
});

describe('the Dockerfiles', () => {
  const cases = [
    { name: 'cloud.Dockerfile', stages: cloudStages },
    { name: 'agent.Dockerfile', stages: agentStages },
  ];
  it.each(cases)(
    '$name: multi-stage, ends as a non-root user with a HEALTHCHECK and an exec-form CMD',
    ({ stages }) => {
      expect(stages.length).toBeGreaterThanOrEqual(2);
      const final = stages.at(-1)!;
      expect(final.image).toBe('node:22-bookworm-slim');
      const user = last(final, 'USER');
      expect(user, 'USER in the final stage').toBeDefined();
      expect(['root', '0', '0:0']).not.toContain(user!.words[0]);
      const hc = last(final, 'HEALTHCHECK');
      expect(hc?.words[0]).toBe('node');
      expect(hc?.flags.timeout).toMatch(/^\d+s$/);
      expect(last(final, 'CMD')?.exec).toBe(true);
      // every COPY --from names an earlier stage
      stages.forEach((s, i) => {
        for (const c of s.instructions.filter((x) => x.op === 'COPY' && x.flags.from !== undefined)) {
          expect(stages.slice(0, i).map((p) => p.name)).toContain(c.flags.from);
        }
      });
    },
  );

  it('cloud: every COPY source is in the context (the repository after .dockerignore), the CMD runs bin/edgeloop.js', () => {
    const ignored = dockerignoreMatcher(read(join(root, '.dockerignore')));
    const files = contextFiles(root, ignored);
    expect(files).not.toContain('node_modules/fastify/package.json');
    // packed agents and data directories stay out of the cloud's context, wherever they were written
    for (const p of [
      `${artifactName(VERSION, 'x64')}.tgz`,
      'agent-dist/a.tgz',
      'edgeloop-data/stream.db',
      '.edgeloop/x',
    ]) {
      expect(ignored(p), p).toBe(true);
    }
    expect(files.some((f) => f.startsWith('test/'))).toBe(false);
    for (const stage of cloudStages) {
      for (const c of stage.instructions.filter((i) => i.op === 'COPY' && i.flags.from === undefined)) {
        for (const src of c.words.slice(0, -1)) expect(copySourceMatches(src, files), `COPY ${src}`).not.toEqual([]);
      }
    }
    const final = cloudStages.at(-1)!;
    const cmd = last(final, 'CMD')!.words;
    expect(cmd.slice(0, 3)).toEqual(['node', 'bin/edgeloop.js', 'cloud']);
    const entry = origin(
      cloudStages,
      cloudStages.length - 1,
      posix.resolve(workdir(final, final.instructions.length), cmd[1]!),
    );
    expect(entry).toBe('bin/edgeloop.js');
    expect(files).toContain(entry);
    // --config names the file the image copies from the context: deploy/docker/cloud.yaml
    const config = origin(cloudStages, cloudStages.length - 1, cmd[cmd.indexOf('--config') + 1]!);
    expect(config).toBe('deploy/docker/cloud.yaml');
    expect(files).toContain(config);
    // the build stage compiles and prunes; the runtime stage does not install anything
    const build = cloudStages[0]!.instructions
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join('\n');
    expect(build).toMatch(/npm ci/);
    expect(build).toMatch(/npm run build && npm prune --omit=dev/);
    expect(
      final.instructions
        .filter((i) => i.op === 'RUN')
        .map((i) => i.args)
        .join('\n'),
    ).not.toMatch(/npm/);
  });

  it("agent: the context is a folder of pack:agent tarballs for x64 and arm64; TARGETARCH picks one; the CMD is the tarball's launcher", () => {
    const ctx = tempDir();
    for (const arch of ['x64', 'arm64']) writeFileSync(join(ctx, `${artifactName(VERSION, arch)}.tgz`), '');
    const files = contextFiles(ctx, dockerignoreMatcher(''));
    const [unpack, final] = [agentStages[0]!, agentStages.at(-1)!];
    expect(unpack.image).toBe('node:22-bookworm-slim');
    const copies = unpack.instructions.filter((i) => i.op === 'COPY');
    for (const c of copies) expect(copySourceMatches(c.words[0]!, files).sort()).toEqual(files.sort());
    // the unpack stage runs on the build machine's platform; the final stage only copies (no emulation)
    expect(read(join(dockerDir, 'agent.Dockerfile'))).toMatch(
      /^FROM --platform=\$BUILDPLATFORM \$\{NODE_IMAGE\} AS unpack$/m,
    );
    expect(final.instructions.filter((i) => i.op === 'RUN')).toEqual([]);
    // the RUN maps Docker's architecture names to the tarballs' and fails on any other
    const run = unpack.instructions.find((i) => i.op === 'RUN')!.args;
    const script = run.replace(/&& tar .*/, '&& echo "$arch"');
    for (const [target, arch] of [
      ['amd64', 'x64'],
      ['arm64', 'arm64'],
    ] as const) {
      const r = spawnSync('sh', ['-c', script], { env: { TARGETARCH: target }, encoding: 'utf8' });
      expect(r.stdout.trim()).toBe(arch);
      expect(files).toContain(`${artifactName(VERSION, arch)}.tgz`);
    }
    expect(spawnSync('sh', ['-c', script], { env: { TARGETARCH: 'riscv64' }, encoding: 'utf8' }).status).not.toBe(0);
    // /opt/edgeloop-agent is the unpacked tarball: its bin/edgeloop-agent is the repository's launcher (pack-agent)
    const cmd = last(final, 'CMD')!.words;
    expect(cmd[0]).toBe('/opt/edgeloop-agent/bin/edgeloop-agent');
    expect(run).toMatch(/mv "edgeloop-agent-\$\{?VERSION\}?-linux-\$\{arch\}" \/opt\/edgeloop-agent/);
    expect(existsSync(join(root, 'bin', 'edgeloop-agent'))).toBe(true);
    expect(read(join(root, 'scripts', 'pack-agent.mjs'))).toContain(
      "cpSync(join(root, 'bin', 'edgeloop-agent'), join(dir, 'bin', 'edgeloop-agent'))",
    );
  });

  it('the configs the images use pass `--check` (cloud.yaml baked in, agent.yaml the example to mount)', async () => {
    const cwd = tempDir();
    const cloud = await runCli(['cloud', '--config', join(dockerDir, 'cloud.yaml'), '--check'], { cwd });
    expect(cloud.code, cloud.stderr).toBe(0);
    expect(JSON.parse(cloud.stdout)).toMatchObject({
      broker: { mode: 'external', external: { url: 'mqtt://mosquitto:1883' } },
      http: { host: '0.0.0.0', port: 9464 },
    });
    const agent = await runCli(['agent', '--config', join(dockerDir, 'agent.yaml'), '--check'], { cwd });
    expect(agent.code, agent.stderr).toBe(0);
    expect(JSON.parse(agent.stdout)).toMatchObject({ health: { host: '0.0.0.0', port: 9465 } });
  }, 30_000);
});

/**
 * The build stage's /app on this machine: its COPY instructions carried out from the context (the repository after
 * .dockerignore) into `dest`, node_modules linked to the repository's, then its `npm run build` (scripts/build.mjs).
 */
function assembleBuildStage(dest: string): void {
  const files = contextFiles(root, dockerignoreMatcher(read(join(root, '.dockerignore'))));
  const stage = cloudStages[0]!;
  const app = workdir(stage, stage.instructions.length);
  stage.instructions.forEach((ins, k) => {
    if (ins.op !== 'COPY' || ins.flags.from !== undefined) return;
    const to = posix.resolve(workdir(stage, k), ins.words.at(-1)!);
    for (const src of ins.words.slice(0, -1)) {
      for (const f of copySourceMatches(src, files)) {
        // a folder's contents go into the destination; files into it when it ends with '/' (or there are several)
        const target =
          f === src
            ? ins.words.at(-1)!.endsWith('/')
              ? posix.join(to, basename(f))
              : to
            : posix.join(to, f.slice(src.length + 1));
        mkdirSync(join(dest, dirname(posix.relative(app, target))), { recursive: true });
        cpSync(join(root, f), join(dest, posix.relative(app, target)), { preserveTimestamps: true });
      }
    }
  });
  symlinkSync(join(root, 'node_modules'), join(dest, 'node_modules'));
  const built = spawnSync(process.execPath, [join(dest, 'scripts', 'build.mjs'), '--quiet'], { encoding: 'utf8' });
  expect(built.status, built.stderr).toBe(0);
}

describe('the cloud HEALTHCHECK against a running edgeloop cloud', () => {
  it("exits 0 while the cloud (run from the build stage's tree, compiled dist/) serves /healthz and non-zero once it stopped", async () => {
    const app = tempDir();
    assembleBuildStage(app);
    expect(distIsFresh(app), 'bin/edgeloop.js runs the compiled dist/ of the image').toBe(true);
    const broker = await startMosquitto();
    onTestFinished(() => broker.close());
    const port = await freePort();
    const dataDir = tempDir();
    // the image's own config; the environment moves it onto this machine's free ports and a temp data dir
    const env = {
      EDGELOOP_DATA_DIR: dataDir,
      EDGELOOP_BROKER__EXTERNAL__URL: broker.url,
      EDGELOOP_HTTP__HOST: '127.0.0.1',
      EDGELOOP_HTTP__PORT: String(port),
      EDGELOOP_LOG_LEVEL: 'warn',
    };
    const cloud = startCli(['cloud', '--config', join(dockerDir, 'cloud.yaml')], {
      cwd: dataDir,
      env,
      bin: join(app, 'bin', 'edgeloop.js'),
    });
    await cloud.waitFor(/edgeloop cloud running/);
    await expectHealthcheck(cloudStages, { EDGELOOP_HTTP__PORT: String(port) }, cloud);
  }, 60_000);

  it("the agent image's HEALTHCHECK: exits 0 while the agent of deploy/docker/agent.yaml runs, non-zero once it stopped", async () => {
    const broker = await startMosquitto();
    onTestFinished(() => broker.close());
    const port = await freePort();
    const dir = tempDir();
    // the example config with the image's install folder (the unpacked tarball) mapped to the repository, which has
    // the same models/default layout
    const config = join(dir, 'agent.yaml');
    writeFileSync(config, read(join(dockerDir, 'agent.yaml')).replaceAll('/opt/edgeloop-agent/', `${root}/`));
    const env = {
      EDGELOOP_DATA_DIR: join(dir, 'data'),
      EDGELOOP_TRANSPORT__URL: broker.url,
      EDGELOOP_HEALTH__HOST: '127.0.0.1',
      EDGELOOP_HEALTH__PORT: String(port),
      EDGELOOP_LOG_LEVEL: 'warn',
    };
    const agent = startCli(['agent', '--config', config], { cwd: dir, env });
    await agent.waitFor(/edgeloop agent: pump-7 running/);
    await expectHealthcheck(agentStages, { EDGELOOP_HEALTH__PORT: String(port) }, agent);
  }, 60_000);
});

/** Run the final stage's HEALTHCHECK (its `node` = this Node): 0 while `proc` serves, non-zero after SIGTERM. */
async function expectHealthcheck(stages: Stage[], env: Record<string, string>, proc: CliProcess): Promise<void> {
  const hc = last(stages.at(-1)!, 'HEALTHCHECK')!.words;
  expect(hc[0]).toBe('node');
  const check = () =>
    spawnSync(process.execPath, hc.slice(1), {
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
      timeout: 15_000,
    });
  const up = check();
  expect(up.status, up.stderr).toBe(0);
  proc.child.kill('SIGTERM');
  expect(await proc.exited).toBe(0);
  const down = check();
  expect(down.status).not.toBeNull();
  expect(down.status).not.toBe(0);
}

describe('compose.yaml', () => {
  interface Service {
    image?: string;
    build?: { context: string; dockerfile: string };
    volumes?: string[];
    ports?: string[];
    depends_on?: string[];
  }
  const compose = parse(read(join(dockerDir, 'compose.yaml'))) as {
    services: Record<string, Service>;
    volumes?: Record<string, unknown>;
  };
  const services = compose.services;
  /** bind mounts: [host path resolved against compose.yaml's folder, container path] */
  const binds = (s: Service): Array<[string, string]> =>
    (s.volumes ?? [])
      .map((v) => v.split(':'))
      .filter(([host]) => host!.startsWith('.') || host!.startsWith('/'))
      .map(([host, to]) => [resolve(dockerDir, host!), to!]);

  it('runs the cloud image with mosquitto and Prometheus; every file it names exists, every named volume is declared', () => {
    expect(Object.keys(services).sort()).toEqual(['cloud', 'mosquitto', 'prometheus']);
    const build = services.cloud!.build!;
    expect(resolve(dockerDir, build.context)).toBe(root);
    expect(resolve(root, build.dockerfile)).toBe(join(dockerDir, 'cloud.Dockerfile'));
    for (const s of Object.values(services)) {
      for (const [host] of binds(s)) expect(existsSync(host), host).toBe(true);
      for (const v of s.volumes ?? [])
        if (!/^[./]/.test(v)) expect(Object.keys(compose.volumes ?? {})).toContain(v.split(':')[0]);
      for (const d of s.depends_on ?? []) expect(Object.keys(services)).toContain(d);
    }
    // the cloud's config points at the mosquitto service and serves where Prometheus scrapes
    const [cloudYaml] = binds(services.cloud!).find(([, to]) => to === '/etc/edgeloop/cloud.yaml')!;
    const cfg = parse(read(cloudYaml)) as {
      broker: { mode: string; external: { url: string } };
      http: { port: number };
    };
    expect(cfg.broker.mode).toBe('external');
    expect(new URL(cfg.broker.external.url).hostname).toBe('mosquitto');
    expect(services.mosquitto!.ports).toContain(`${new URL(cfg.broker.external.url).port}:1883`);
    const [promYaml] = binds(services.prometheus!).find(([, to]) => to === '/etc/prometheus/prometheus.yml')!;
    const prom = parse(read(promYaml)) as {
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const job = prom.scrape_configs.find((j) => j.job_name === 'edgeloop-cloud')!;
    expect(job.static_configs[0]!.targets).toEqual([`cloud:${cfg.http.port}`]);
  });

  it("mosquitto's config sets max_queued_messages 0 (the default 1000 drops QoS 1 messages to a slow ingest)", () => {
    const [conf] = binds(services.mosquitto!).find(([, to]) => to === '/mosquitto/config/mosquitto.conf')!;
    const lines = read(conf)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(lines).toContain('max_queued_messages 0');
    expect(lines.filter((l) => l.startsWith('max_queued_messages'))).toHaveLength(1);
  });

  it("Prometheus's files, laid out as the container sees them, pass promtool check config", () => {
    const etc = tempDir();
    for (const [host, to] of binds(services.prometheus!)) {
      if (dirname(to) === '/etc/prometheus') copyFileSync(host, join(etc, basename(to)));
    }
    expect(readFileSync(join(etc, 'edgeloop-rules.yml'), 'utf8')).toBe(
      read(join(root, 'deploy', 'prometheus', 'edgeloop-rules.yml')),
    );
    const r = runPromtool(['check', 'config', 'prometheus.yml'], { cwd: etc });
    expect(r.output).toMatch(/SUCCESS: prometheus.yml is valid prometheus config file syntax/);
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.status).toBe(0);
  });
});
