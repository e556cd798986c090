/**
 * The CDK app: context → StackConfig → EdgeloopStack, with cdk-nag's AwsSolutions checks as a policy validation
 * plugin (a finding that is not acknowledged fails `cdk synth`). bin/app.ts runs it; the tests build
 * the same app in-process.
 */
import { App, Validations, type AppProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EdgeloopStack } from './edgeloop-stack.ts';
import { processorBundle } from './lambda-bundle.ts';
import { suppressKnownFindings, type Acknowledgement } from './nag-suppressions.ts';
import { stackConfig } from './stack-config.ts';

export const STACK_ID = 'Edgeloop';

export interface BuiltApp {
  app: App;
  stack: EdgeloopStack;
  /** the cdk-nag findings the stack acknowledges, with their reasons */
  acknowledgements: Acknowledgement[];
  /** call after synth: removes the temporary Lambda bundle */
  dispose(): void;
}

export function buildApp(props: AppProps = {}): BuiltApp {
  const app = new App(props);
  const config = stackConfig(app.node.getAllContext() as Record<string, unknown>);
  const bundle = processorBundle(config.lambdaBundle);
  const stack = new EdgeloopStack(app, STACK_ID, {
    config,
    lambdaCode: lambda.Code.fromAsset(bundle.dir, { exclude: ['*.zip', '*.map'] }),
    description: `edgeloop on AWS: IoT Core, Kinesis (${config.streamMode}), processor Lambda, SageMaker Feature Store, S3 + Glue`,
  });
  const acknowledgements = suppressKnownFindings(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack, acknowledgements, dispose: bundle.dispose };
}
