/**
 * Latency probes for runSimulation (`hooks.probes`): stages after the broker, read from the cloud's own stores.
 *   streamProbe        device time of each reading → the stream accepted it (the record's arrivedAt)
 *   featureStoreProbe  device time of the newest data behind a device's features → the probe saw them (polling:
 *                      the figure includes up to one poll interval)
 * They take the owned interfaces (Stream, FeatureStore), so they work with the local and the AWS backends.
 */
import type { FeatureStore } from '../../cloud/feature-store/feature-store.ts';
import type { Stream } from '../../cloud/stream/stream.ts';
import { decodeRecord } from '../../cloud/processor/decode-record.ts';
import type { LatencyProbe } from '../simulation-hooks.ts';

export function streamProbe(
  stream: Stream,
  opts: { consumer?: string; pollMs?: number; since?: number } = {},
): LatencyProbe {
  let stop = false;
  let loop: Promise<void> | undefined;
  const consumer = opts.consumer ?? `edgeloop-sim-probe-${process.pid}`;
  const since = opts.since ?? Date.now();
  return {
    name: 'stream',
    start(record) {
      loop = (async () => {
        const shards = await stream.listShards();
        const positions = new Map<string, string | undefined>();
        while (!stop) {
          let got = 0;
          for (const shard of shards) {
            const batch = await stream.read(shard, { consumer, position: positions.get(shard), limit: 1000 });
            positions.set(shard, batch.position ?? positions.get(shard));
            for (const r of batch.records) {
              got++;
              if (r.arrivedAt < since) continue; // data of an earlier run
              for (const m of decodeRecord(r.data).messages) {
                if (m.type === 'telemetry') for (const x of m.readings) record(x.ts, r.arrivedAt);
              }
            }
          }
          if (got === 0) await new Promise((res) => setTimeout(res, opts.pollMs ?? 100));
        }
      })();
    },
    async close() {
      stop = true;
      await loop?.catch(() => {});
    },
  };
}

export function featureStoreProbe(
  store: FeatureStore,
  opts: { group?: string; deviceIds: () => string[]; pollMs?: number },
): LatencyProbe {
  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  const seen = new Map<string, number>();
  return {
    name: 'feature store',
    start(record) {
      timer = setInterval(() => {
        if (busy) return;
        busy = true;
        const ids = opts.deviceIds();
        store
          .batchGet(opts.group ?? 'device_features', ids)
          .then((rs) => {
            const now = Date.now();
            rs.forEach((r, i) => {
              if (!r) return;
              const id = ids[i]!;
              if (r.eventTime > (seen.get(id) ?? 0)) {
                if (seen.has(id)) record(r.eventTime, now);
                seen.set(id, r.eventTime);
              }
            });
          })
          .catch(() => {})
          .finally(() => (busy = false));
      }, opts.pollMs ?? 200);
      timer.unref();
    },
    close() {
      if (timer) clearInterval(timer);
    },
  };
}
