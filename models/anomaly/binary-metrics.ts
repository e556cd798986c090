/** Binary detection metrics as SKAB reports them. Pure. */
export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export interface BinaryMetrics extends Confusion {
  /** 2TP / (2TP + FP + FN) */
  f1: number;
  /** false-alarm rate FP / (FP + TN) */
  far: number;
  /** missed-alarm rate FN / (FN + TP) */
  mar: number;
  precision: number;
  recall: number;
}

export function confusion(predicted: ArrayLike<number | boolean>, labels: ArrayLike<number>): Confusion {
  const c = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const p = Boolean(predicted[i]);
    const y = labels[i] === 1;
    if (p && y) c.tp++;
    else if (p) c.fp++;
    else if (y) c.fn++;
    else c.tn++;
  }
  return c;
}

export function addConfusion(a: Confusion, b: Confusion): Confusion {
  return { tp: a.tp + b.tp, fp: a.fp + b.fp, fn: a.fn + b.fn, tn: a.tn + b.tn };
}

export function binaryMetrics(c: Confusion): BinaryMetrics {
  const div = (a: number, b: number): number => (b === 0 ? 0 : a / b);
  return {
    ...c,
    f1: div(2 * c.tp, 2 * c.tp + c.fp + c.fn),
    far: div(c.fp, c.fp + c.tn),
    mar: div(c.fn, c.fn + c.tp),
    precision: div(c.tp, c.tp + c.fp),
    recall: div(c.tp, c.tp + c.fn),
  };
}
