/**
 * `cdk synth` / `cdk deploy` entry (deploy/aws/cdk.json: `npx tsx bin/app.ts`). Context keys: lib/stack-config.ts
 * and docs/aws-deployment.md.
 */
import { buildApp } from '../lib/app.ts';

const { app, dispose } = buildApp();
try {
  app.synth();
} finally {
  dispose();
}
