/**
 * From model outputs to ranked maintenance actions. Pure.
 *
 * - `multilabel-probabilities`: one independent probability per failure mode (labels). An action's score is the
 *   largest probability among the modes it answers; an action with no modes ("no action") scores the
 *   probability that no mode is present, prod(1 - p_i).
 * - `class-probabilities`: one probability per label; labels that are action ids score those actions directly,
 *   otherwise they are treated as modes as above.
 */
import type { Manifest } from '../../protocol/manifest.ts';

export interface RankedAction {
  id: string;
  label: string;
  score: number;
  modes: string[];
}

export interface Ranking {
  actions: RankedAction[];
  /** probability per output label */
  modes: Record<string, number>;
  /** labels at or above the manifest threshold */
  predicted: string[];
}

export function rankActions(manifest: Manifest, probs: ArrayLike<number>, offset: number, k: number): Ranking {
  const labels = manifest.output.labels ?? [];
  const width = labels.length;
  const modes: Record<string, number> = {};
  const predicted: string[] = [];
  const thresholds = perLabelThresholds(manifest);
  let none = 1;
  for (let j = 0; j < width; j++) {
    const p = probs[offset + j]!;
    modes[labels[j]!] = p;
    none *= 1 - clamp01(p);
    if (p >= (thresholds[labels[j]!] ?? manifest.threshold)) predicted.push(labels[j]!);
  }
  const catalog = manifest.actions ?? labels.map((l) => ({ id: l, label: l, modes: [l] }));
  const byId = new Set(labels);
  const actions: RankedAction[] = catalog.map((a) => {
    let score: number;
    if (manifest.output.kind === 'class-probabilities' && byId.has(a.id)) score = modes[a.id]!;
    else if (a.modes.length === 0) score = none;
    else score = Math.max(...a.modes.map((m) => modes[m] ?? 0));
    return { id: a.id, label: a.label, score, modes: a.modes };
  });
  actions.sort((x, y) => y.score - x.score || x.id.localeCompare(y.id));
  return { actions: actions.slice(0, Math.max(1, k)), modes, predicted };
}

/** Per-label thresholds when the manifest's metrics carry them (`metrics.thresholds: {label: t}`). */
function perLabelThresholds(manifest: Manifest): Record<string, number> {
  const t =
    (manifest.metrics as { thresholds?: unknown } | undefined)?.thresholds ??
    (manifest.training as { thresholds?: unknown } | undefined)?.thresholds;
  if (t && typeof t === 'object' && !Array.isArray(t)) {
    return Object.fromEntries(
      Object.entries(t as Record<string, unknown>).filter(([, v]) => typeof v === 'number'),
    ) as Record<string, number>;
  }
  return {};
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
