/**
 * CloudWatch Embedded Metric Format (EMF): a JSON log line that CloudWatch Logs turns into metrics as it ingests
 * the function's output, with no PutMetricData call and nothing to flush. The line carries the metric values as
 * top-level fields, the dimension values likewise, and an `_aws` block naming which fields are metrics.
 * Pure: the caller writes the line.
 */

export type EmfUnit = 'Count' | 'Milliseconds' | 'None';

export interface EmfMetric {
  name: string;
  value: number;
  unit: EmfUnit;
}

/** One EMF line (without the newline) for `metrics` under `namespace`, grouped by all of `dimensions`. */
export function emfLine(
  namespace: string,
  dimensions: Record<string, string>,
  metrics: EmfMetric[],
  timestampMs: number,
): string {
  const body: Record<string, unknown> = {
    _aws: {
      Timestamp: timestampMs,
      CloudWatchMetrics: [
        {
          Namespace: namespace,
          Dimensions: [Object.keys(dimensions)],
          Metrics: metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
        },
      ],
    },
    ...dimensions,
  };
  for (const m of metrics) body[m.name] = m.value;
  return JSON.stringify(body);
}
