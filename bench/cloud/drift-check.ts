/**
 * CPU of one drift check over 1 000 devices x 20 features (input + quality monitors, 5 site cohorts), with
 * in-memory SQLite. Not a benchmark of record: a measurement for docs/drift.md.
 *   npx tsx bench/cloud/drift-check.ts [auto|ks|wasserstein|psi] [reference size] [values per device per check]
 */
import { Prng } from '../../lib/prng.ts';
import { DriftService } from '../../cloud/drift/drift-service.ts';
import { SqliteDriftStore } from '../../cloud/drift/sqlite-drift-store.ts';
import { buildReference } from '../../cloud/drift/reference.ts';
import { ManualClock } from '../../lib/clock.ts';
const statistic = (process.argv[2] ?? 'auto') as 'auto';
const nRef = Number(process.argv[3] ?? 10000);
const perCheck = Number(process.argv[4] ?? 100);
const prng = new Prng(1);
const F = 20,
  D = 1000;
const cols = Object.fromEntries(
  Array.from({ length: F }, (_, f) => [`f${f}`, Array.from({ length: nRef }, () => prng.normal())]),
);
const ref = buildReference(cols, { maxSample: nRef, model: { name: 'm', version: '1' } });
const store = new SqliteDriftStore({ path: ':memory:' });
await store.start();
const clock = new ManualClock(0);
const svc = new DriftService({
  store,
  clock,
  statistic,
  policy: { minSamples: perCheck, cooldownMs: 0 },
  deviceInfo: (id) => ({ site: `s${id.length % 5}` }),
});
svc.setReference(ref);

for (let round = 0; round < 6; round++) {
  for (let i = 0; i < perCheck; i++)
    for (let d = 0; d < D; d++) {
      const features: Record<string, number> = {};
      for (let f = 0; f < F; f++) features[`f${f}`] = prng.normal();
      svc.observeFeatures({ deviceId: `dev-${d}`, features });
    }
  clock.advance(60_000);
  const cpu0 = process.cpuUsage();
  const s = await svc.check();
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `${statistic} nRef=${nRef} n=${perCheck}: round ${round}: ${s.checks} monitor checks (${D} devices x ${F} features), wall ${s.durationMs.toFixed(0)} ms, cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms, events ${s.events.length}`,
  );
}
await svc.close();
await store.close();
