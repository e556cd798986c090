/**
 * The cdk-nag AwsSolutions findings this stack accepts, each on the one construct it concerns, narrowed to the
 * one finding (an IAM5 acknowledgement names the exact resource pattern) and with the reason. Anything else the
 * pack reports fails `cdk synth`; test/deploy/aws/nag.test.ts checks there is nothing else and that every
 * acknowledgement here carries a reason.
 */
import { Stack, Validations, type CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { DATA_PREFIXES, type EdgeloopStack } from './edgeloop-stack.ts';

export interface Acknowledgement {
  /** construct path below the stack */
  path: string;
  id: string;
  reason: string;
}

/** `Resource::<LogicalId.Arn>/prefix*`, the form cdk-nag names an object-prefix resource in. */
function objectsOf(stack: Stack, bucket: IConstruct, prefix: string): string {
  return `Resource::<${stack.getLogicalId(bucket.node.defaultChild as CfnResource)}.Arn>/${prefix}*`;
}

export function suppressKnownFindings(stack: EdgeloopStack): Acknowledgement[] {
  const acks: Acknowledgement[] = [];
  const ack = (construct: IConstruct, id: string, reason: string) => {
    Validations.of(construct).acknowledge({ id: `AwsSolutions-${id}`, reason });
    acks.push({ path: construct.node.path, id: `AwsSolutions-${id}`, reason });
  };
  ack(
    stack.failures,
    'SQS3',
    'this queue is the on-failure destination of the processor event source mapping: it is the dead-letter queue, and its depth has an alarm',
  );
  if (stack.iotRuleRole) {
    ack(
      stack.iotRuleRole,
      `IAM5[${objectsOf(stack, stack.dataBucket, DATA_PREFIXES.iotRuleErrors)}]`,
      'the topic rules error action writes one object per failed message under this prefix (key = rule/deviceId/time-uuid), so object names are not known in advance; the role may write nothing else',
    );
  }
  ack(
    stack.featureStoreOfflinePolicy,
    `IAM5[${objectsOf(stack, stack.dataBucket, DATA_PREFIXES.offlineStore)}]`,
    'SageMaker Feature Store writes the offline store as objects it names itself (account/sagemaker/region/offline-store/group/data/year=/month=/day=/hour=/...) under this prefix; the role reaches no other prefix',
  );
  return acks;
}
