/** Error codes of the AWS CDK app (deploy/aws/). */
export const DEPLOY_ERROR_CODES = {
  EL_ERR_DEPLOY_CONTEXT:
    'A CDK context value of the AWS stack (cdk.json or `-c key=value`) is unknown or invalid; the message names the key and what it expects.',
  EL_ERR_DEPLOY_BUNDLE:
    'The processor Lambda bundle could not be built or found (`lambdaBundle` names a folder without processor.mjs, or scripts/build-lambda.mjs failed).',
} as const satisfies Record<string, string>;
