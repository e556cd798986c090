/**
 * The synthesized EdgeloopStack (aws-cdk-lib/assertions): every resource and policy that matters, checked against
 * the sources it is generated from (protocol/topics.ts, the planner, the processor's aggregator, the archive's
 * tables) and against docs/aws-deployment.md's event source mapping. One Lambda bundle is built for all stacks.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCHIVE_TABLES } from '../../../cloud/archive/archive-tables.ts';
import { atScaleTables } from '../../../cloud/batch/athena.ts';
import { FleetSpecSchema } from '../../../cloud/plan/fleet-spec.ts';
import { planFleet } from '../../../cloud/plan/plan.ts';
import { loadPriceTable } from '../../../cloud/plan/prices.ts';
import { buildApp } from '../../../deploy/aws/lib/app.ts';
import { featureDefinitions } from '../../../deploy/aws/lib/feature-definitions.ts';
import { processorBundle, type LambdaBundle } from '../../../deploy/aws/lib/lambda-bundle.ts';
import { CONTEXT_KEYS } from '../../../deploy/aws/lib/stack-config.ts';
import { Topics } from '../../../protocol/topics.ts';

const root = join(import.meta.dirname, '..', '..', '..');
/** the context of deploy/aws/cdk.json (CDK's feature flags), as `cdk synth` passes it */
const FLAGS = (JSON.parse(readFileSync(join(root, 'deploy', 'aws', 'cdk.json'), 'utf8')) as { context: object })
  .context;

let bundle: LambdaBundle;
beforeAll(() => {
  bundle = processorBundle();
});
afterAll(() => bundle?.dispose());

function synth(context: Record<string, unknown> = {}) {
  const built = buildApp({ context: { ...FLAGS, lambdaBundle: bundle.dir, ...context } });
  return { ...built, template: Template.fromStack(built.stack) };
}

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };
/** every statement of every identity policy in the template (inline role policies and AWS::IAM::Policy) */
function identityStatements(t: Template): { where: string; s: Statement }[] {
  const out: { where: string; s: Statement }[] = [];
  for (const [id, r] of Object.entries(t.findResources('AWS::IAM::Policy')))
    for (const s of (r as any).Properties.PolicyDocument.Statement) out.push({ where: id, s });
  for (const [id, r] of Object.entries(t.findResources('AWS::IAM::Role')))
    for (const p of (r as any).Properties.Policies ?? [])
      for (const s of p.PolicyDocument.Statement) out.push({ where: `${id}/${p.PolicyName}`, s });
  return out;
}
const actionsOf = (s: Statement) => [s.Action].flat();
const ref = (t: Template, type: string) => Object.keys(t.findResources(type))[0]!;

/** the event source mapping JSON block of docs/aws-deployment.md */
function documentedMapping(): Record<string, unknown> {
  const doc = readFileSync(join(root, 'docs', 'aws-deployment.md'), 'utf8');
  const block = [...doc.matchAll(/```json\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((b) => b.includes('EventSourceArn'));
  return JSON.parse(block!) as Record<string, unknown>;
}

describe('EdgeloopStack, defaults (IoT rule, provisioned stream sized by the planner)', () => {
  let t: Template;
  let stackTemplate: any;
  beforeAll(() => {
    const s = synth({ devices: 10_000 });
    t = s.template;
    stackTemplate = t.toJSON();
  });

  it("sizes the stream with the planner's arithmetic, partitioned and encrypted", () => {
    const plan = planFleet(FleetSpecSchema.parse({ devices: 10_000, retentionDays: 365 }), loadPriceTable());
    expect(plan.kinesis.shards).toBeGreaterThan(1);
    t.resourceCountIs('AWS::Kinesis::Stream', 1);
    t.hasResourceProperties('AWS::Kinesis::Stream', {
      Name: 'edgeloop-telemetry',
      ShardCount: plan.kinesis.shards,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      RetentionPeriodHours: 24,
    });
  });

  it('the event source mapping is the one docs/aws-deployment.md states', () => {
    const d = documentedMapping();
    const queue = ref(t, 'AWS::SQS::Queue');
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [ref(t, 'AWS::Kinesis::Stream'), 'Arn'] },
      FunctionName: { Ref: ref(t, 'AWS::Lambda::Function') },
      StartingPosition: d.StartingPosition,
      BatchSize: d.BatchSize,
      MaximumBatchingWindowInSeconds: d.MaximumBatchingWindowInSeconds,
      ParallelizationFactor: d.ParallelizationFactor,
      BisectBatchOnFunctionError: d.BisectBatchOnFunctionError,
      MaximumRetryAttempts: d.MaximumRetryAttempts,
      FunctionResponseTypes: d.FunctionResponseTypes,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
    });
    expect(d.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(d.BisectBatchOnFunctionError).toBe(true);
    t.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'edgeloop-processor-failures',
      SqsManagedSseEnabled: true,
    });
  });

  it('runs the shipped bundle: handler, runtime, environment the handler reads', () => {
    t.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'edgeloop-processor',
      Handler: 'processor.handler',
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 1024,
      Environment: {
        Variables: {
          EDGELOOP_FEATURE_GROUP: 'device_features',
          EDGELOOP_WINDOWS_MS: '60000',
          EDGELOOP_ALLOWED_LATENESS_MS: '5000',
          EDGELOOP_METRICS_NAMESPACE: 'edgeloop',
        },
      },
    });
    const handlerSource = readFileSync(join(root, 'cloud', 'lambda', 'processor-handler.ts'), 'utf8');
    const fn = Object.values(t.findResources('AWS::Lambda::Function'))[0] as any;
    for (const v of Object.keys(fn.Properties.Environment.Variables).filter((k) => k.startsWith('EDGELOOP_')))
      expect(handlerSource, `the handler reads ${v}`).toContain(`env.${v}`);
    // the asset is the bundle: one self-contained module, no node_modules
    expect(readdirSync(bundle.dir)).toEqual(['processor.mjs']);
  });

  it('least privilege: no wildcard action, no `*` resource, every resource named', () => {
    const all = identityStatements(t);
    expect(all.length).toBeGreaterThan(5);
    for (const { where, s } of all) {
      expect(s.Effect, where).toBe('Allow');
      for (const a of actionsOf(s)) expect(a, where).not.toContain('*');
      for (const r of [s.Resource].flat()) expect(r, where).not.toBe('*');
    }
    for (const [id, r] of Object.entries(t.findResources('AWS::IAM::Role')))
      expect((r as any).Properties.ManagedPolicyArns, `${id} has no managed policies`).toBeUndefined();
  });

  it("resource policies: a `*` action only in a Deny (TLS only) or the key policy's account-root statement", () => {
    const docs: { where: string; doc: any }[] = [];
    for (const type of ['AWS::S3::BucketPolicy', 'AWS::SQS::QueuePolicy', 'AWS::SNS::TopicPolicy'])
      for (const [id, r] of Object.entries(t.findResources(type)))
        docs.push({ where: id, doc: (r as any).Properties.PolicyDocument });
    for (const [id, r] of Object.entries(t.findResources('AWS::KMS::Key')))
      docs.push({ where: id, doc: (r as any).Properties.KeyPolicy });
    expect(docs.length).toBeGreaterThanOrEqual(6);
    for (const { where, doc } of docs) {
      for (const s of doc.Statement) {
        if (!actionsOf(s).some((a) => a.includes('*'))) continue;
        const rootDelegation =
          where.startsWith('AlarmKey') && s.Effect === 'Allow' && JSON.stringify(s.Principal).includes(':root');
        expect(s.Effect === 'Deny' || rootDelegation, `${where}: ${JSON.stringify(s)}`).toBe(true);
      }
    }
  });

  it("the processor's role: read the stream, write its feature group, report to its queue, write its logs", () => {
    const stream = ref(t, 'AWS::Kinesis::Stream');
    t.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: [
              'kinesis:DescribeStream',
              'kinesis:DescribeStreamSummary',
              'kinesis:GetRecords',
              'kinesis:GetShardIterator',
              'kinesis:ListShards',
            ],
            Resource: { 'Fn::GetAtt': [stream, 'Arn'] },
          }),
          Match.objectLike({
            Action: ['sagemaker:BatchGetRecord', 'sagemaker:GetRecord', 'sagemaker:PutRecord'],
            Resource: {
              'Fn::Join': ['', Match.arrayWith([':sagemaker:', ':feature-group/device_features'])],
            },
          }),
          Match.objectLike({
            Action: 'sqs:SendMessage',
            Resource: { 'Fn::GetAtt': [ref(t, 'AWS::SQS::Queue'), 'Arn'] },
          }),
          Match.objectLike({
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: { 'Fn::GetAtt': [ref(t, 'AWS::Logs::LogGroup'), 'Arn'] },
          }),
        ]),
      },
      Roles: [{ Ref: Match.stringLikeRegexp('^ProcessorRole') }],
    });
    t.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/aws/lambda/edgeloop-processor' });
  });

  it('IoT: the device policy is the one generated from protocol/topics.ts', () => {
    t.resourceCountIs('AWS::IoT::Policy', 1);
    const policy = Object.values(t.findResources('AWS::IoT::Policy'))[0] as any;
    expect(policy.Properties.PolicyName).toBe('edgeloop-device');
    const text = JSON.stringify(policy.Properties.PolicyDocument);
    const topics = new Topics();
    const thing = '${iot:Connection.Thing.ThingName}';
    for (const topic of [
      topics.telemetry(thing),
      topics.events(thing),
      topics.status(thing),
      topics.modelReport(thing),
    ])
      expect(text).toContain(`:topic/${topic}`);
    for (const f of topics.agentModelSubscriptions(thing)) expect(text).toContain(`:topicfilter/${f}`);
    expect(text).toContain(`:client/${thing}`);
    expect(text).not.toContain('iot:*');
  });

  it('IoT: one topic rule per ingest subscription into Kinesis, partition key = deviceId, errors to S3', () => {
    const topics = new Topics();
    t.resourceCountIs('AWS::IoT::TopicRule', topics.ingestSubscriptions().length);
    const stream = ref(t, 'AWS::Kinesis::Stream');
    for (const filter of topics.ingestSubscriptions()) {
      t.hasResourceProperties('AWS::IoT::TopicRule', {
        TopicRulePayload: {
          Sql: `SELECT * FROM '${filter}'`,
          AwsIotSqlVersion: '2016-03-23',
          RuleDisabled: false,
          Actions: [{ Kinesis: { StreamName: { Ref: stream }, PartitionKey: '${topic(3)}' } }],
          ErrorAction: { S3: { Key: Match.stringLikeRegexp('^dlq/iot-rule/.+/\\$\\{topic\\(3\\)\\}/') } },
        },
      });
    }
    // the rule role: PutRecord on this stream, error objects under the rule prefix, nothing else
    const role = Object.entries(t.findResources('AWS::IAM::Role')).find(([id]) =>
      id.startsWith('IotRuleRole'),
    )![1] as any;
    expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ Service: 'iot.amazonaws.com' });
    const statements = role.Properties.Policies[0].PolicyDocument.Statement;
    expect(statements.map((s: Statement) => s.Action)).toEqual(['kinesis:PutRecord', 's3:PutObject']);
    expect(statements[0].Resource).toEqual({ 'Fn::GetAtt': [stream, 'Arn'] });
    expect(JSON.stringify(statements[1].Resource)).toContain('/dlq/iot-rule/*');
  });

  it("the feature group: the aggregator's own feature names, online + offline store in the data bucket", () => {
    const defs = featureDefinitions({
      sensors: ['air_temp', 'process_temp', 'rpm', 'torque', 'tool_wear'],
      models: ['edgeloop-default-anomaly'],
      windowsMs: [60_000],
      allowedLatenessMs: 5000,
    });
    const names = defs.map((d) => d.featureName);
    for (const n of ['entity_id', 'event_time', 'air_temp_mean_1m', 'rpm_ewma', 'tool_wear_last', 'anomaly_rate_15m'])
      expect(names).toContain(n);
    expect(defs.find((d) => d.featureName === 'model_version_edgeloop-default-anomaly')!.featureType).toBe('String');
    t.hasResourceProperties('AWS::SageMaker::FeatureGroup', {
      FeatureGroupName: 'device_features',
      RecordIdentifierFeatureName: 'entity_id',
      EventTimeFeatureName: 'event_time',
      FeatureDefinitions: defs.map((d) => ({ FeatureName: d.featureName, FeatureType: d.featureType })),
      OnlineStoreConfig: { EnableOnlineStore: true },
      OfflineStoreConfig: {
        S3StorageConfig: {
          S3Uri: { 'Fn::Join': ['', ['s3://', { Ref: Match.stringLikeRegexp('^DataBucket') }, '/offline-store']] },
        },
        DisableGlueTableCreation: false,
        DataCatalogConfig: { Database: 'edgeloop_warehouse' },
      },
      ThroughputConfig: { ThroughputMode: 'OnDemand' },
    });
  });

  it('S3: encrypted, private, TLS only, access-logged, lifecycle on the Hive prefixes', () => {
    t.resourceCountIs('AWS::S3::Bucket', 3);
    for (const [id, b] of Object.entries(t.findResources('AWS::S3::Bucket'))) {
      const p = (b as any).Properties;
      expect(
        p.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm,
        id,
      ).toBe('AES256');
      expect(p.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      if (!id.startsWith('AccessLogs')) {
        expect(p.LoggingConfiguration.DestinationBucketName, id).toEqual({ Ref: expect.stringMatching(/^AccessLogs/) });
        expect(p.VersioningConfiguration, id).toEqual({ Status: 'Enabled' });
      }
    }
    for (const [id, p] of Object.entries(t.findResources('AWS::S3::BucketPolicy'))) {
      const text = JSON.stringify((p as any).Properties.PolicyDocument);
      expect(text, id).toContain('"aws:SecureTransport":"false"');
      expect(text, id).toContain('"s3:TlsVersion":1.2');
    }
    t.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'raw-archive',
            Prefix: 'archive/',
            ExpirationInDays: 365,
            Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }],
          }),
          Match.objectLike({ Id: 'offline-feature-store', Prefix: 'offline-store/', ExpirationInDays: 365 }),
          Match.objectLike({
            Id: 'old-versions-and-uploads',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
          }),
        ]),
      },
    });
  });

  it("Glue: the archive's and the warehouse's tables with their columns, Hive partitions found by projection", () => {
    t.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: { Name: 'edgeloop_warehouse' } });
    const tables = atScaleTables();
    // the raw archive's four and the eight published warehouse tables (facts, aggregates, dimensions)
    expect(tables.map((x) => x.name)).toEqual([
      ...Object.keys(ARCHIVE_TABLES).map((n) => `archive_${n}`),
      'fact_reading',
      'fact_event',
      'agg_sensor_hourly',
      'agg_sensor_daily',
      'agg_health_hourly',
      'agg_health_daily',
      'dim_device',
      'dim_model',
    ]);
    t.resourceCountIs('AWS::Glue::Table', tables.length);
    const glueType = {
      VARCHAR: 'string',
      BIGINT: 'bigint',
      DOUBLE: 'double',
      TIMESTAMPTZ: 'timestamp',
      BOOLEAN: 'boolean',
    };
    for (const table of Object.values(ARCHIVE_TABLES)) {
      t.hasResourceProperties('AWS::Glue::Table', {
        DatabaseName: 'edgeloop_warehouse',
        TableInput: {
          Name: `archive_${table.name}`,
          PartitionKeys: [
            { Name: 'date', Type: 'string' },
            { Name: 'hour', Type: 'string' },
          ],
          Parameters: Match.objectLike({
            classification: 'parquet',
            'projection.enabled': 'true',
            'projection.date.format': 'yyyy-MM-dd',
            'storage.location.template': {
              'Fn::Join': ['', Match.arrayWith([`/archive/${table.name}/date=\${date}/hour=\${hour}/`])],
            },
          }),
          StorageDescriptor: Match.objectLike({
            Columns: table.columns.map((c) => ({ Name: c.name, Type: glueType[c.type] })),
            SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
          }),
        },
      });
    }
    // the warehouse tables: the same columns and properties as the Athena DDL of deploy/athena/
    for (const table of tables.filter((x) => x.source !== undefined)) {
      t.hasResourceProperties('AWS::Glue::Table', {
        DatabaseName: 'edgeloop_warehouse',
        TableInput: {
          Name: table.name,
          PartitionKeys: table.partitions.map((p) => ({ Name: p, Type: 'string' })),
          Parameters: Match.objectLike({
            'parquet.compression': 'ZSTD',
            ...(table.partitions.length
              ? {
                  'projection.enabled': 'true',
                  'storage.location.template': {
                    'Fn::Join': [
                      '',
                      Match.arrayWith([`/${table.path}/${table.partitions.map((p) => `${p}=\${${p}}`).join('/')}/`]),
                    ],
                  },
                }
              : {}),
          }),
          StorageDescriptor: Match.objectLike({
            Columns: table.columns.map((c) => ({ Name: c.name, Type: c.type })),
            Location: { 'Fn::Join': ['', Match.arrayWith([`/${table.path}/`])] },
          }),
        },
      });
    }
    const dims = Object.values(t.findResources('AWS::Glue::Table')).filter((r) =>
      ['dim_device', 'dim_model'].includes(r.Properties.TableInput.Name),
    );
    expect(dims.map((r) => r.Properties.TableInput.Parameters['projection.enabled'])).toEqual([undefined, undefined]);
    t.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        ResultConfiguration: Match.objectLike({ EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } }),
      }),
    });
  });

  it('alarms: iterator age, errors, throttles, failed batches, failure queue depth, rule failures, throttled puts', () => {
    const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((a: any) => a.Properties);
    const topic = ref(t, 'AWS::SNS::Topic');
    for (const a of alarms) expect(a.AlarmActions).toEqual([{ Ref: topic }]);
    const metric = (ns: string, name: string) => alarms.filter((a) => a.Namespace === ns && a.MetricName === name);
    expect(metric('AWS/Lambda', 'IteratorAge')[0]).toMatchObject({ Statistic: 'Maximum', Threshold: 600_000 });
    expect(metric('AWS/Lambda', 'Errors')).toHaveLength(1);
    expect(metric('AWS/Lambda', 'Throttles')).toHaveLength(1);
    expect(metric('edgeloop', 'FailedBatches')[0].Dimensions).toEqual(
      expect.arrayContaining([
        { Name: 'FunctionName', Value: 'edgeloop-processor' },
        { Name: 'FeatureGroup', Value: 'device_features' },
      ]),
    );
    expect(metric('AWS/SQS', 'ApproximateNumberOfMessagesVisible')).toHaveLength(1);
    expect(metric('AWS/IoT', 'Failure')).toHaveLength(4);
    // PutRecord (the rules) and PutRecords (the bridge) throttles both count here
    expect(metric('AWS/Kinesis', 'WriteProvisionedThroughputExceeded')).toHaveLength(1);
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    // CloudWatch may use the topic's key, and only from this account
    t.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          }),
        ]),
      },
    });
  });

  it('the registry artifact bucket and the outputs operators need', () => {
    const outputs = Object.keys(stackTemplate.Outputs);
    for (const o of [
      'StreamName',
      'Shards',
      'ProcessorFunction',
      'FeatureGroupName',
      'DataBucketName',
      'ArtifactBucketName',
    ])
      expect(outputs).toContain(o);
  });
});

describe('EdgeloopStack, alternatives', () => {
  it('ingest=bridge: no topic rules; the bridge IoT policy and task role instead', () => {
    const { template: t } = synth({ ingest: 'bridge', streamMode: 'on-demand', topicPrefix: 'acme/v2' });
    t.resourceCountIs('AWS::IoT::TopicRule', 0);
    t.resourceCountIs('AWS::IoT::Policy', 2);
    const bridge = Object.values(t.findResources('AWS::IoT::Policy')).find(
      (p: any) => p.Properties.PolicyName === 'edgeloop-ingest',
    ) as any;
    const text = JSON.stringify(bridge.Properties.PolicyDocument);
    for (const f of new Topics('acme/v2').ingestSubscriptions())
      expect(text).toContain(`topicfilter/$share/edgeloop-ingest/${f}`);
    t.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'ecs-tasks.amazonaws.com' } })],
      },
      Policies: [
        {
          PolicyDocument: {
            Statement: [
              Match.objectLike({
                Action: ['kinesis:DescribeStreamSummary', 'kinesis:ListShards', 'kinesis:PutRecords'],
              }),
            ],
          },
        },
      ],
    });
    t.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      ShardCount: Match.absent(),
    });
  });

  it('context shapes the stack: windows, sensors, models, names, TTL, alarm e-mail', () => {
    const { template: t } = synth({
      namePrefix: 'plant7',
      windowsMs: '60000,300000',
      sensors: 'temp,vibration',
      models: ['bearing'],
      featureTtlDays: '7',
      alarmEmail: 'ops@example.com',
      lambdaArchitecture: 'x86_64',
    });
    t.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'plant7-processor',
      Architectures: ['x86_64'],
      Environment: {
        Variables: Match.objectLike({ EDGELOOP_WINDOWS_MS: '60000,300000', EDGELOOP_FEATURE_TTL_MS: '604800000' }),
      },
    });
    const group = Object.values(t.findResources('AWS::SageMaker::FeatureGroup'))[0] as any;
    const names = group.Properties.FeatureDefinitions.map((d: any) => d.FeatureName);
    expect(names).toEqual(
      expect.arrayContaining(['temp_mean_1m', 'temp_mean_5m', 'vibration_std_5m', 'model_version_bearing']),
    );
    expect(names.some((n: string) => n.startsWith('air_temp'))).toBe(false);
    expect(group.Properties.OnlineStoreConfig.TtlDuration).toEqual({ Unit: 'Days', Value: 7 });
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    t.hasResourceProperties('AWS::Kinesis::Stream', { Name: 'plant7-telemetry' });
    // a 5-minute window: the planner's batching window (largest window + 10 s)
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', { MaximumBatchingWindowInSeconds: 300 });
  });

  it('bad context fails with the key and what it expects', () => {
    const err = (context: Record<string, unknown>) => {
      try {
        buildApp({ context: { lambdaBundle: bundle.dir, ...context } });
      } catch (e) {
        return e as { code: string; message: string };
      }
      throw new Error('no error');
    };
    expect(err({ streamMod: 'on-demand' })).toMatchObject({
      code: 'EL_ERR_DEPLOY_CONTEXT',
      message: expect.stringContaining('unknown context key "streamMod"'),
    });
    expect(err({ streamMode: 'burst' }).message).toMatch(/streamMode/);
    expect(err({ devices: 'many' }).message).toMatch(/devices/);
    expect(err({ topicPrefix: 'a/#' }).message).toMatch(/topicPrefix/);
    expect(err({ lambdaBundle: root })).toMatchObject({ code: 'EL_ERR_DEPLOY_BUNDLE' });
    // the planner's hard limits pass through: 3,000 readings of 60 bytes break IoT Core's 128 KB message
    expect(err({ batchSize: 3000 })).toMatchObject({ code: 'EL_ERR_PLAN_LIMIT' });
  });

  it('docs/aws-deployment.md lists every context key', () => {
    const doc = readFileSync(join(root, 'docs', 'aws-deployment.md'), 'utf8');
    const table = /\*\*Context\*\*[^\n]*\n\n((?:\|.*\n)+)/.exec(doc)?.[1] ?? '';
    const keyColumn = table
      .split('\n')
      .slice(2)
      .map((row) => row.split('|')[1] ?? '')
      .join(' ');
    for (const k of CONTEXT_KEYS) expect(keyColumn, k).toContain(`\`${k}\``);
  });
});
