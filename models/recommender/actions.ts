/**
 * The maintenance action catalog of the AI4I recommender and how actions are scored from mode probabilities. Pure.
 *
 * Scoring follows the recommendation service (cloud/recommend/ranking.ts): an action's score is the largest
 * probability among the failure modes it answers; "no action" scores the probability that no mode is present,
 * prod(1 - p). The model's outputs are shifted so that 0.5 is each mode's decision threshold, so whenever a mode
 * is predicted its action outranks "no action".
 */
import { FAILURE_MODES } from './ai4i-data.ts';

export interface CatalogAction {
  id: string;
  label: string;
  modes: string[];
}

export const ACTION_CATALOG: readonly CatalogAction[] = [
  { id: 'replace-tool', label: 'Replace the tool (tool wear failure)', modes: ['TWF'] },
  { id: 'restore-cooling', label: 'Restore cooling / heat dissipation (heat dissipation failure)', modes: ['HDF'] },
  { id: 'correct-setpoint', label: 'Correct the speed/torque set-point (power failure)', modes: ['PWF'] },
  { id: 'reduce-load', label: 'Reduce load or change the tool early (overstrain failure)', modes: ['OSF'] },
  { id: 'inspect', label: 'Inspect the machine (random failure)', modes: ['RNF'] },
  { id: 'no-action', label: 'No action needed', modes: [] },
];

export interface ScoredAction {
  id: string;
  score: number;
}

/** Actions ranked by score (ties by id) for one row of mode probabilities (FAILURE_MODES order). */
export function rankCatalog(
  probs: ArrayLike<number>,
  offset = 0,
  catalog: readonly CatalogAction[] = ACTION_CATALOG,
): ScoredAction[] {
  const p: Record<string, number> = {};
  let none = 1;
  FAILURE_MODES.forEach((m, j) => {
    const v = probs[offset + j]!;
    p[m] = v;
    none *= 1 - Math.min(1, Math.max(0, v));
  });
  const scored = catalog.map((a) => ({
    id: a.id,
    score: a.modes.length === 0 ? none : Math.max(...a.modes.map((m) => p[m] ?? 0)),
  }));
  scored.sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  return scored;
}

/** Action ids answering any of `modes`. */
export function actionsFor(modes: readonly string[], catalog: readonly CatalogAction[] = ACTION_CATALOG): Set<string> {
  return new Set(catalog.filter((a) => a.modes.some((m) => modes.includes(m))).map((a) => a.id));
}
