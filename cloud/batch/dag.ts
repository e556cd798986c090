/**
 * A small DAG runner (logic without I/O: the tasks and the run log are passed in).
 *
 * Tasks run one at a time in a topological order (ties in the order given). A task whose every dependency is ok
 * (or was done before) runs; a failed task's dependents are `skipped`, naming it, while tasks that do not depend
 * on it still run. Tasks in `doneBefore` (succeeded in an earlier run of the same logical date) are not run again
 * and count as ok for their dependents: that is how a rerun resumes from the failed task.
 */
import { EdgeloopError } from '../../protocol/errors.ts';

export interface DagTask {
  name: string;
  /** names of the tasks that must succeed first */
  needs: readonly string[];
}

export interface TaskOutcome {
  rows?: number;
  bytes?: number;
  /** what the task did, in a line (shown by `edgeloop batch status`) */
  detail?: string;
}

export type TaskReport =
  | ({ task: string; status: 'ok'; startedAt: number; endedAt: number } & TaskOutcome)
  | { task: string; status: 'failed'; startedAt: number; endedAt: number; error: unknown }
  | { task: string; status: 'skipped'; reason: string }
  | { task: string; status: 'done-before' };

/** The tasks in a valid order; throws on an unknown dependency, a duplicate or a cycle (naming it). */
export function dagOrder(tasks: readonly DagTask[]): DagTask[] {
  const byName = new Map<string, DagTask>();
  for (const t of tasks) {
    if (byName.has(t.name)) throw new EdgeloopError('EL_ERR_BATCH_INVALID', `DAG: task "${t.name}" is defined twice`);
    byName.set(t.name, t);
  }
  for (const t of tasks)
    for (const n of t.needs)
      if (!byName.has(n))
        throw new EdgeloopError('EL_ERR_BATCH_INVALID', `DAG: task "${t.name}" needs "${n}", which is not a task`);
  const out: DagTask[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (t: DagTask, path: string[]): void => {
    const s = state.get(t.name);
    if (s === 'done') return;
    if (s === 'visiting')
      throw new EdgeloopError('EL_ERR_BATCH_INVALID', `DAG: a cycle: ${[...path, t.name].join(' -> ')}`);
    state.set(t.name, 'visiting');
    for (const n of t.needs) visit(byName.get(n)!, [...path, t.name]);
    state.set(t.name, 'done');
    out.push(t);
  };
  for (const t of tasks) visit(t, []);
  return out;
}

export async function runDag(
  tasks: readonly DagTask[],
  o: {
    run: (task: string) => Promise<TaskOutcome>;
    doneBefore?: ReadonlySet<string>;
    now: () => number;
    onStart?: (task: string) => void;
    onReport?: (r: TaskReport) => void;
  },
): Promise<TaskReport[]> {
  const reports = new Map<string, TaskReport>();
  const report = (r: TaskReport): void => {
    reports.set(r.task, r);
    o.onReport?.(r);
  };
  for (const t of dagOrder(tasks)) {
    const blocked = t.needs.find((n) => {
      const s = reports.get(n)!.status;
      return s !== 'ok' && s !== 'done-before';
    });
    if (blocked !== undefined) {
      const b = reports.get(blocked)!;
      report({
        task: t.name,
        status: 'skipped',
        reason:
          b.status === 'failed' ? `${blocked} failed` : `${blocked} did not run (${(b as { reason: string }).reason})`,
      });
      continue;
    }
    if (o.doneBefore?.has(t.name)) {
      report({ task: t.name, status: 'done-before' });
      continue;
    }
    const startedAt = o.now();
    o.onStart?.(t.name);
    try {
      const outcome = await o.run(t.name);
      report({ task: t.name, status: 'ok', startedAt, endedAt: o.now(), ...outcome });
    } catch (error) {
      report({ task: t.name, status: 'failed', startedAt, endedAt: o.now(), error });
    }
  }
  return [...reports.values()];
}
