/**
 * cdk-nag's AwsSolutions pack runs on every synth of the app (a validation plugin): the stack passes with the
 * acknowledgements of deploy/aws/lib/nag-suppressions.ts, each with its reason, and the same synth fails as soon as
 * something breaks a rule (so the check is live, not a pass-through).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { buildApp } from '../../../deploy/aws/lib/app.ts';
import { processorBundle, type LambdaBundle } from '../../../deploy/aws/lib/lambda-bundle.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const FLAGS = (JSON.parse(readFileSync(join(root, 'deploy', 'aws', 'cdk.json'), 'utf8')) as { context: object })
  .context;

let bundle: LambdaBundle;
beforeAll(() => {
  bundle = processorBundle();
});
afterAll(() => bundle?.dispose());

function build(context: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'el-cdk-nag-'));
  onTestFinished(() => rmSync(outdir, { recursive: true, force: true }));
  return { outdir, ...buildApp({ outdir, context: { ...FLAGS, lambdaBundle: bundle.dir, ...context } }) };
}

const report = (outdir: string) =>
  JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: { pluginName: string; conclusion: string; violations: { ruleName: string }[] }[];
  };

describe('cdk-nag AwsSolutions', () => {
  for (const context of [{}, { ingest: 'bridge', streamMode: 'on-demand', alarmEmail: 'ops@example.com' }]) {
    it(`passes with reasoned acknowledgements only (${JSON.stringify(context)})`, () => {
      const { app, outdir, acknowledgements } = build(context);
      expect(() => app.synth()).not.toThrow();
      expect(report(outdir).pluginReports).toEqual([]);
      expect(acknowledgements.map((a) => a.id.replace(/\[.*$/, '')).sort()).toEqual(
        'ingest' in context
          ? ['AwsSolutions-IAM5', 'AwsSolutions-SQS3']
          : ['AwsSolutions-IAM5', 'AwsSolutions-IAM5', 'AwsSolutions-SQS3'],
      );
      for (const a of acknowledgements) {
        expect(a.reason.length, `${a.id} on ${a.path} says why`).toBeGreaterThan(60);
        // an IAM5 acknowledgement is narrowed to one resource pattern, never the whole rule
        if (a.id.startsWith('AwsSolutions-IAM5'))
          expect(a.id).toMatch(/^AwsSolutions-IAM5\[Resource::<DataBucket\w+\.Arn>\/[a-z/-]+\/\*\]$/);
      }
    });
  }

  it('fails the synth when a resource breaks a rule', () => {
    const { app, stack, outdir } = build();
    new s3.Bucket(stack, 'Careless');
    expect(() => app.synth()).toThrow(/server access logs/);
    const failed = report(outdir).pluginReports.find((r) => r.pluginName === 'AwsSolutions')!;
    expect(failed.conclusion).toBe('failure');
    expect(failed.violations.map((v) => v.ruleName)).toEqual(
      expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']),
    );
  });
});
