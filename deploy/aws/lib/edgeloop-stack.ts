/**
 * EdgeloopStack: the scaled-out form of `edgeloop cloud` on AWS (docs/aws-deployment.md), as one CloudFormation
 * stack. Environment-agnostic (no account or region at synth time, no lookups): `cdk synth` runs offline.
 *
 *   devices ─MQTT/X.509─► IoT Core ─(topic rules, default | ingest bridge)─► Kinesis (partition key = deviceId)
 *     ─► event source mapping ─► processor Lambda (dist bundle of cloud/lambda) ─► SageMaker Feature Store
 *        (online + offline store in S3) ; failed batches ─► SQS ; S3: raw archive (Hive layout) + Glue tables
 *        + Athena workgroup ; registry artifact bucket ; CloudWatch alarms ─► SNS
 *
 * Every role gets inline statements naming its actions one by one and the resources they act on; nothing comes
 * from a `grant*()` helper, so the policies are exactly what this file says (the tests check them).
 */
import { Annotations, ArnFormat, Aws, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { EdgeloopError } from '../../../protocol/errors.ts';
import { featureDefinitions, MAX_FEATURES_PER_GROUP } from './feature-definitions.ts';
import { warehouseGlueTables } from './glue-tables.ts';
import { devicePolicy, ingestBridgePolicy, topicRules, type IotResourceType } from './iot-policies.ts';
import { EVENT_SOURCE_MAPPING, type StackConfig } from './stack-config.ts';

/** S3 prefixes of the data bucket (the raw archive's tables sit under `archive/<table>/date=…/hour=…/`). */
export const DATA_PREFIXES = Object.freeze({
  archive: 'archive/',
  /** the published warehouse tables (cloud/batch/athena.ts paths `warehouse/<table>`) */
  warehouse: 'warehouse/',
  offlineStore: 'offline-store/',
  iotRuleErrors: 'dlq/iot-rule/',
  athenaResults: 'athena-results/',
});
/** The first day Athena's partition projection enumerates. */
export const ARCHIVE_FIRST_DATE = '2024-01-01';
/** The ingest bridge's client ids and shared subscription group (docs/aws-deployment.md, 2b). */
export const INGEST_SHARED_GROUP = 'edgeloop-ingest';
export const METRICS_NAMESPACE = 'edgeloop';

export interface EdgeloopStackProps extends StackProps {
  config: StackConfig;
  /** the processor bundle (a folder with processor.mjs) */
  lambdaCode: lambda.Code;
}

export class EdgeloopStack extends Stack {
  readonly dataBucket: s3.Bucket;
  readonly artifactBucket: s3.Bucket;
  readonly stream: kinesis.Stream;
  readonly processor: lambda.Function;
  readonly failures: sqs.Queue;
  readonly alarmTopic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly featureStoreOfflinePolicy: iam.Policy;
  /** the topic rules' role (ingest = iot-rule) */
  readonly iotRuleRole: iam.Role | undefined;

  constructor(scope: Construct, id: string, props: EdgeloopStackProps) {
    super(scope, id, props);
    const c = props.config;
    const name = (s: string) => `${c.namePrefix}-${s}`;
    const snake = c.namePrefix.replace(/-/g, '_');
    const iotArn = (type: IotResourceType, resourceName: string) =>
      this.formatArn({ service: 'iot', resource: type, resourceName, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });

    // a customer-managed key only where a service-managed one cannot work: CloudWatch alarms cannot publish to a
    // topic encrypted with aws/sns. The stream uses aws/kinesis, S3 SSE-S3, SQS SSE-SQS: every reader and writer
    // here uses them without key grants, and a customer key on the stream would bill a KMS call per put batch.
    const key = new kms.Key(this, 'AlarmKey', {
      alias: `alias/${name('alarms')}`,
      description: 'edgeloop: alarm topic encryption (CloudWatch alarms publish through it)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToTheEncryptedTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        // in a key policy `*` is this key; the statement is the one SNS documents for alarms on encrypted topics
        resources: ['*'],
      }),
    );

    // --- every alarm goes to one encrypted topic
    this.alarmTopic = new sns.Topic(this, 'Alarms', {
      topicName: name('alarms'),
      masterKey: key,
      enforceSSL: true,
    });
    if (c.alarmEmail !== undefined) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(c.alarmEmail));

    // --- S3: access logs, data (raw archive + offline store + rule errors + query results), model artifacts
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: Duration.days(c.accessLogRetentionDays) },
        { id: 'abort-multipart', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const bucketBase = {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      serverAccessLogsBucket: accessLogs,
      removalPolicy: RemovalPolicy.RETAIN,
    } satisfies s3.BucketProps;
    const history = (id: string, prefix: string): s3.LifecycleRule => ({
      id,
      prefix,
      ...(c.archiveRetentionDays > c.infrequentAccessAfterDays
        ? {
            transitions: [
              {
                storageClass: s3.StorageClass.INFREQUENT_ACCESS,
                transitionAfter: Duration.days(c.infrequentAccessAfterDays),
              },
            ],
          }
        : {}),
      expiration: Duration.days(c.archiveRetentionDays),
    });
    this.dataBucket = new s3.Bucket(this, 'DataBucket', {
      ...bucketBase,
      serverAccessLogsPrefix: 'data/',
      lifecycleRules: [
        history('raw-archive', DATA_PREFIXES.archive),
        // derived from the archive: kept as long, so a query over the facts covers what the archive covers
        history('warehouse', DATA_PREFIXES.warehouse),
        history('offline-feature-store', DATA_PREFIXES.offlineStore),
        { id: 'iot-rule-errors', prefix: DATA_PREFIXES.iotRuleErrors, expiration: Duration.days(30) },
        { id: 'athena-results', prefix: DATA_PREFIXES.athenaResults, expiration: Duration.days(7) },
        {
          id: 'old-versions-and-uploads',
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
    });
    this.artifactBucket = new s3.Bucket(this, 'ArtifactBucket', {
      ...bucketBase,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [
        {
          id: 'old-versions-and-uploads',
          noncurrentVersionExpiration: Duration.days(90),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
    });
    const objects = (bucket: s3.IBucket, prefix: string) => `${bucket.bucketArn}/${prefix}*`;

    // --- Kinesis: provisioned with the planner's shard count, or on-demand
    this.stream = new kinesis.Stream(this, 'Telemetry', {
      streamName: name('telemetry'),
      ...(c.streamMode === 'provisioned'
        ? { streamMode: kinesis.StreamMode.PROVISIONED, shardCount: c.plan.shards }
        : { streamMode: kinesis.StreamMode.ON_DEMAND }),
      encryption: kinesis.StreamEncryption.MANAGED,
      retentionPeriod: Duration.hours(c.streamRetentionHours),
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // --- IoT Core: the device policy (every device certificate), then the way into Kinesis
    const deviceIotPolicy = new iot.CfnPolicy(this, 'DevicePolicy', {
      policyName: name('device'),
      policyDocument: devicePolicy(c.topics, iotArn),
    });
    const rules = topicRules(c.topics);
    if (c.ingest === 'iot-rule') {
      const ruleRole = (this.iotRuleRole = new iam.Role(this, 'IotRuleRole', {
        assumedBy: new iam.ServicePrincipal('iot.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }),
        description: 'edgeloop IoT topic rules: put device messages into the telemetry stream, errors into S3',
        inlinePolicies: {
          'put-telemetry': new iam.PolicyDocument({
            statements: [
              new iam.PolicyStatement({ actions: ['kinesis:PutRecord'], resources: [this.stream.streamArn] }),
              new iam.PolicyStatement({
                actions: ['s3:PutObject'],
                resources: [objects(this.dataBucket, DATA_PREFIXES.iotRuleErrors)],
              }),
            ],
          }),
        },
      }));
      for (const r of rules) {
        const ruleName = `${snake}_${r.name}_to_kinesis`;
        const rule = new iot.CfnTopicRule(this, `Rule-${r.name}`, {
          ruleName,
          topicRulePayload: {
            description: `edgeloop: ${r.sql} into Kinesis, partition key = deviceId`,
            sql: r.sql,
            awsIotSqlVersion: '2016-03-23',
            ruleDisabled: false,
            actions: [
              {
                kinesis: {
                  streamName: this.stream.streamName,
                  partitionKey: r.partitionKey,
                  roleArn: ruleRole.roleArn,
                },
              },
            ],
            errorAction: {
              s3: {
                bucketName: this.dataBucket.bucketName,
                key: `${DATA_PREFIXES.iotRuleErrors}${r.name}/${r.partitionKey}/\${timestamp()}-\${newuuid()}.json`,
                roleArn: ruleRole.roleArn,
              },
            },
          },
        });
        this.#alarm(
          `RuleFailures-${r.name}`,
          `IoT rule ${ruleName} failed to put messages into Kinesis (the error action keeps them in S3)`,
          new cloudwatch.Metric({
            namespace: 'AWS/IoT',
            metricName: 'Failure',
            dimensionsMap: { RuleName: rule.ref, ActionType: 'Kinesis' },
            statistic: 'Sum',
            period: Duration.minutes(5),
          }),
          1,
        );
      }
    } else {
      new iot.CfnPolicy(this, 'IngestBridgePolicy', {
        policyName: name('ingest'),
        policyDocument: ingestBridgePolicy(c.topics, iotArn, `${name('ingest')}-`, INGEST_SHARED_GROUP),
      });
      new iam.Role(this, 'IngestTaskRole', {
        assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }),
        description: 'edgeloop ingest bridge tasks (edgeloop cloud --only ingest): put device messages into the stream',
        inlinePolicies: {
          'put-telemetry': new iam.PolicyDocument({
            statements: [
              new iam.PolicyStatement({
                actions: ['kinesis:PutRecords', 'kinesis:ListShards', 'kinesis:DescribeStreamSummary'],
                resources: [this.stream.streamArn],
              }),
            ],
          }),
        },
      });
    }

    // --- the processor Lambda on the stream's event source mapping
    const featureGroupArn = this.formatArn({
      service: 'sagemaker',
      resource: 'feature-group',
      resourceName: c.featureGroupName.toLowerCase(),
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    this.failures = new sqs.Queue(this, 'ProcessorFailures', {
      queueName: name('processor-failures'),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const functionName = name('processor');
    const logGroup = new logs.LogGroup(this, 'ProcessorLogs', {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const processorPolicy = new iam.Policy(this, 'ProcessorPolicy', {
      statements: [
        new iam.PolicyStatement({
          sid: 'ReadTheStream',
          actions: [
            'kinesis:GetRecords',
            'kinesis:GetShardIterator',
            'kinesis:DescribeStream',
            'kinesis:DescribeStreamSummary',
            'kinesis:ListShards',
          ],
          resources: [this.stream.streamArn],
        }),
        new iam.PolicyStatement({
          sid: 'FeatureStore',
          actions: ['sagemaker:PutRecord', 'sagemaker:GetRecord', 'sagemaker:BatchGetRecord'],
          resources: [featureGroupArn],
        }),
        new iam.PolicyStatement({
          sid: 'FailedBatches',
          actions: ['sqs:SendMessage'],
          resources: [this.failures.queueArn],
        }),
        new iam.PolicyStatement({
          sid: 'Logs',
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        }),
      ],
    });
    const processorRole = new iam.Role(this, 'ProcessorRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'edgeloop processor Lambda: read the stream, write features, report failed batches',
    });
    processorRole.attachInlinePolicy(processorPolicy);
    this.processor = new lambda.Function(this, 'Processor', {
      functionName,
      description: 'edgeloop streaming feature processor (cloud/lambda/processor-handler.ts)',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: c.lambdaArchitecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      handler: 'processor.handler',
      code: props.lambdaCode,
      memorySize: c.lambdaMemoryMb,
      timeout: Duration.seconds(c.lambdaTimeoutSeconds),
      role: processorRole,
      logGroup,
      environment: {
        EDGELOOP_FEATURE_GROUP: c.featureGroupName,
        EDGELOOP_WINDOWS_MS: c.windowsMs.join(','),
        EDGELOOP_ALLOWED_LATENESS_MS: String(c.allowedLatenessMs),
        EDGELOOP_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...(c.featureTtlDays !== undefined ? { EDGELOOP_FEATURE_TTL_MS: String(c.featureTtlDays * 86_400_000) } : {}),
        NODE_OPTIONS: '--enable-source-maps',
      },
    });
    this.processor.node.addDependency(processorPolicy);
    const mapping = new lambda.CfnEventSourceMapping(this, 'ProcessorMapping', {
      eventSourceArn: this.stream.streamArn,
      functionName: this.processor.functionName,
      startingPosition: EVENT_SOURCE_MAPPING.startingPosition,
      batchSize: EVENT_SOURCE_MAPPING.batchSize,
      maximumBatchingWindowInSeconds: c.plan.batchingWindowSeconds,
      parallelizationFactor: EVENT_SOURCE_MAPPING.parallelizationFactor,
      bisectBatchOnFunctionError: EVENT_SOURCE_MAPPING.bisectBatchOnFunctionError,
      maximumRetryAttempts: EVENT_SOURCE_MAPPING.maximumRetryAttempts,
      functionResponseTypes: [...EVENT_SOURCE_MAPPING.functionResponseTypes],
      destinationConfig: { onFailure: { destination: this.failures.queueArn } },
    });
    mapping.node.addDependency(processorPolicy);

    // --- Glue database with the raw archive's and the published warehouse's tables, an Athena workgroup
    const database = `${snake}_warehouse`;
    const glueDb = new glue.CfnDatabase(this, 'Warehouse', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: {
        name: database,
        description: 'edgeloop fleet warehouse: the raw archive (Hive-partitioned Parquet) and the offline features',
        locationUri: this.dataBucket.s3UrlForObject(DATA_PREFIXES.archive),
      },
    });
    for (const t of warehouseGlueTables(ARCHIVE_FIRST_DATE)) {
      const location = this.dataBucket.s3UrlForObject(t.prefix);
      const table = new glue.CfnTable(this, `Table-${t.name}`, {
        catalogId: Aws.ACCOUNT_ID,
        databaseName: database,
        tableInput: {
          name: t.name,
          description: t.description,
          tableType: 'EXTERNAL_TABLE',
          parameters: t.parameters(location),
          partitionKeys: t.partitionKeys,
          storageDescriptor: {
            columns: t.columns,
            location,
            inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
            outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
            serdeInfo: {
              serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
              parameters: { 'serialization.format': '1' },
            },
          },
        },
      });
      table.addResourceDependency(glueDb);
    }
    new athena.CfnWorkGroup(this, 'Queries', {
      name: name('warehouse'),
      description: 'edgeloop warehouse queries (results kept 7 days)',
      recursiveDeleteOption: false,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        resultConfiguration: {
          outputLocation: this.dataBucket.s3UrlForObject(DATA_PREFIXES.athenaResults),
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });

    // --- SageMaker Feature Store: the group the processor writes, with the processor's own feature names
    const definitions = featureDefinitions({
      sensors: c.sensors,
      models: c.models,
      windowsMs: c.windowsMs,
      allowedLatenessMs: c.allowedLatenessMs,
    });
    if (definitions.length > MAX_FEATURES_PER_GROUP) {
      throw new EdgeloopError(
        'EL_ERR_DEPLOY_CONTEXT',
        `context sensors/windowsMs/models: ${definitions.length} features, over SageMaker's ${MAX_FEATURES_PER_GROUP} per feature group`,
      );
    }
    const offlinePolicy = (this.featureStoreOfflinePolicy = new iam.Policy(this, 'FeatureStoreOfflinePolicy', {
      statements: [
        new iam.PolicyStatement({
          // the object actions of AWS's AmazonSageMakerFeatureStoreAccess, on this prefix only
          actions: ['s3:PutObject', 's3:PutObjectAcl', 's3:GetObject'],
          resources: [objects(this.dataBucket, DATA_PREFIXES.offlineStore)],
        }),
        new iam.PolicyStatement({ actions: ['s3:GetBucketAcl'], resources: [this.dataBucket.bucketArn] }),
      ],
    }));
    const featureStoreRole = new iam.Role(this, 'FeatureStoreRole', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'edgeloop feature group: write the offline store into the data bucket',
    });
    featureStoreRole.attachInlinePolicy(offlinePolicy);
    const featureGroup = new sagemaker.CfnFeatureGroup(this, 'FeatureGroup', {
      featureGroupName: c.featureGroupName,
      description: 'edgeloop device features (cloud/processor/feature-aggregator.ts)',
      recordIdentifierFeatureName: 'entity_id',
      eventTimeFeatureName: 'event_time',
      featureDefinitions: definitions,
      onlineStoreConfig: {
        EnableOnlineStore: true,
        ...(c.featureTtlDays !== undefined ? { TtlDuration: { Unit: 'Days', Value: c.featureTtlDays } } : {}),
      },
      offlineStoreConfig: {
        S3StorageConfig: { S3Uri: this.dataBucket.s3UrlForObject(DATA_PREFIXES.offlineStore.slice(0, -1)) },
        DisableGlueTableCreation: false,
        DataCatalogConfig: {
          Catalog: 'AwsDataCatalog',
          Database: database,
          TableName: `${c.featureGroupName}_offline`,
        },
      },
      throughputConfig: { throughputMode: 'OnDemand' },
      roleArn: featureStoreRole.roleArn,
    });
    featureGroup.node.addDependency(offlinePolicy);
    featureGroup.addResourceDependency(glueDb);

    // --- the other alarms
    const fn = { FunctionName: functionName };
    this.#alarm(
      'IteratorAge',
      `the processor is more than ${c.iteratorAgeAlarmSeconds} s behind the stream (a shard retrying a batch stops advancing)`,
      new cloudwatch.Metric({
        namespace: 'AWS/Lambda',
        metricName: 'IteratorAge',
        dimensionsMap: fn,
        statistic: 'Maximum',
        period: Duration.minutes(1),
      }),
      c.iteratorAgeAlarmSeconds * 1000,
      5,
    );
    this.#alarm(
      'Errors',
      'processor invocations failed (function errors)',
      this.processor.metricErrors({ period: Duration.minutes(5) }),
      1,
    );
    this.#alarm(
      'Throttles',
      'processor invocations were throttled (concurrency)',
      this.processor.metricThrottles({ period: Duration.minutes(5) }),
      1,
    );
    this.#alarm(
      'FailedBatches',
      'the processor reported batches for retry (feature store calls failing after retries)',
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'FailedBatches',
        dimensionsMap: { ...fn, FeatureGroup: c.featureGroupName },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      1,
    );
    this.#alarm(
      'FailureQueueDepth',
      'batches gave up after MaximumRetryAttempts: their descriptions wait in the failure queue',
      this.failures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      1,
    );
    if (c.streamMode === 'provisioned') {
      this.#alarm(
        'WriteThroughputExceeded',
        'puts into the stream were throttled: more shards are needed (edgeloop plan)',
        this.stream.metricWriteProvisionedThroughputExceeded({ period: Duration.minutes(5), statistic: 'Sum' }),
        1,
      );
    }

    new CfnOutput(this, 'StreamName', { value: this.stream.streamName });
    new CfnOutput(this, 'Shards', {
      value: c.streamMode === 'provisioned' ? String(c.plan.shards) : 'on-demand',
      description: `edgeloop plan: ${c.plan.fleet.devices} devices at ${c.plan.fleet.readingsPerSecond} readings/s`,
    });
    new CfnOutput(this, 'ProcessorFunction', { value: this.processor.functionName });
    new CfnOutput(this, 'FailureQueueUrl', { value: this.failures.queueUrl });
    new CfnOutput(this, 'FeatureGroupName', { value: c.featureGroupName });
    new CfnOutput(this, 'DataBucketName', { value: this.dataBucket.bucketName });
    new CfnOutput(this, 'ArtifactBucketName', { value: this.artifactBucket.bucketName });
    new CfnOutput(this, 'DevicePolicyName', { value: deviceIotPolicy.ref });
    new CfnOutput(this, 'GlueDatabase', { value: database });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    if (c.streamMode === 'on-demand') {
      Annotations.of(this).addInfo(`the planner sizes this fleet at ${c.plan.shards} provisioned shards`);
    }
  }

  #alarm(id: string, description: string, metric: cloudwatch.IMetric, threshold: number, evaluationPeriods = 1): void {
    const alarm = new cloudwatch.Alarm(this, `Alarm-${id}`, {
      alarmDescription: `edgeloop: ${description}`,
      metric,
      threshold,
      evaluationPeriods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new cwActions.SnsAction(this.alarmTopic));
    this.alarms.push(alarm);
  }
}
