/**
 * The shell blocks of docs/aws-deployment.md, run as written from the repository root with the real `cdk` CLI and
 * no AWS credentials (offline: no account, no region, instance metadata off). A block marked
 * `<!-- doc-test: skip (reason) -->` (the deploy, which needs an account) is not run. The CLI's own settings file
 * (~/.cdk.json) lives in a temporary HOME and sends the cloud assembly to a temporary folder, so the documented
 * `cd deploy/aws && npx cdk synth` leaves nothing in the working tree.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');
const DOC = 'aws-deployment.md';

interface Block {
  line: number;
  code: string;
  skip: string | undefined;
}

function shellBlocks(): Block[] {
  const lines = readFileSync(join(root, 'docs', DOC), 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i]!)) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    const prev = (lines[i - 1] ?? '').trim();
    const m = /^<!-- doc-test: skip \((.+)\) -->$/.exec(prev);
    if (prev.includes('doc-test') && !m) throw new Error(`${DOC}:${i}: unknown doc-test marker ${prev}`);
    out.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n'), skip: m?.[1] });
    i = end;
  }
  return out;
}

/** the environment of a machine with no AWS configuration at all */
function offlineEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('CDK_')) env[k] = v;
  return {
    ...env,
    HOME: home,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials'),
    NPM_CONFIG_UPDATE_NOTIFIER: 'false',
    NODE_OPTIONS: '',
  };
}

describe(`docs/${DOC} shell blocks`, () => {
  it('only the deploy and a test run are skipped, each with a reason', () => {
    const blocks = shellBlocks();
    expect(blocks.some((b) => b.skip === undefined && /npx cdk synth/.test(b.code))).toBe(true);
    expect(blocks.filter((b) => b.skip !== undefined).map((b) => b.skip)).toEqual([
      'needs an AWS account and credentials',
      'a test file: npm test runs it',
    ]);
  });

  it('run as written: cdk synth with the real CLI, offline, into a temporary folder', { timeout: 240_000 }, () => {
    const home = mkdtempSync(join(tmpdir(), 'el-cdk-home-'));
    onTestFinished(() => rmSync(home, { recursive: true, force: true }));
    const out = join(home, 'cdk.out');
    writeFileSync(join(home, '.cdk.json'), JSON.stringify({ output: out }));
    mkdirSync(join(home, '.cdk'), { recursive: true });
    const before = existsSync(join(root, 'deploy', 'aws', 'cdk.out'));
    for (const b of shellBlocks()) {
      if (b.skip !== undefined) continue;
      const r = spawnSync('sh', ['-ec', b.code], { cwd: root, env: offlineEnv(home), encoding: 'utf8' });
      expect(r.status, `docs/${DOC}:${b.line}\n${b.code}\n${r.stdout}\n${r.stderr}`).toBe(0);
    }
    const template = JSON.parse(readFileSync(join(out, 'Edgeloop.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string }>;
    };
    const types = new Set(Object.values(template.Resources).map((r) => r.Type));
    for (const t of [
      'AWS::IoT::Policy',
      'AWS::IoT::TopicRule',
      'AWS::Kinesis::Stream',
      'AWS::Lambda::Function',
      'AWS::Lambda::EventSourceMapping',
      'AWS::SageMaker::FeatureGroup',
      'AWS::Glue::Table',
      'AWS::CloudWatch::Alarm',
    ])
      expect(types, t).toContain(t);
    // the processor bundle is in the assembly as an asset
    const assets = JSON.parse(readFileSync(join(out, 'Edgeloop.assets.json'), 'utf8')) as {
      files: Record<string, { source: { path: string } }>;
    };
    const dirs = Object.values(assets.files)
      .map((f) => f.source.path)
      .filter((p) => p.startsWith('asset.'));
    expect(dirs.some((d) => existsSync(join(out, d, 'processor.mjs')))).toBe(true);
    expect(existsSync(join(root, 'deploy', 'aws', 'cdk.out'))).toBe(before);
  });
});
