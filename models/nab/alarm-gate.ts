/**
 * Stages 3 and 4 of the NAB detector (adaptive-detector.ts): spatial novelty against the range seen so far, and the
 * alarm gate (learning rows, alarm, silence, alarm score). Pure.
 */
/** Stage 3: spatial novelty against the range of the values seen so far. */
export class SpatialNovelty {
  readonly #tol: number;
  #min = Infinity;
  #max = -Infinity;

  constructor(tolerance: number) {
    this.#tol = tolerance;
  }

  /** 1 when the value is outside the widened range of the earlier values, else 0; then the value joins the range */
  update(value: number): number {
    let novel = 0;
    if (this.#tol > 0 && this.#max > this.#min) {
      const w = this.#tol * (this.#max - this.#min);
      if (value > this.#max + w || value < this.#min - w) novel = 1;
    }
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
    return novel;
  }
}

/**
 * Alarm then silence: 0 for the learning rows and for suppressRows after an alarm (a score ≥ alarmLevel). With
 * alarmScore 0 the other rows pass their score through; otherwise an alarm row emits alarmScore and any other row
 * half its score.
 */
export class AlarmGate {
  readonly #learn: number;
  readonly #level: number;
  readonly #suppress: number;
  readonly #alarmScore: number;
  #t = 0;
  #quietUntil = -1;
  #alarmed = false;

  constructor(learnRows: number, alarmLevel: number, suppressRows: number, alarmScore = 0) {
    this.#learn = learnRows;
    this.#level = alarmLevel;
    this.#suppress = suppressRows;
    this.#alarmScore = alarmScore;
  }

  /** whether the last row raised an alarm */
  get alarmed(): boolean {
    return this.#alarmed;
  }

  update(score: number): number {
    const i = this.#t++;
    this.#alarmed = false;
    if (i < this.#learn || i <= this.#quietUntil) return 0;
    if (score >= this.#level) {
      this.#quietUntil = i + this.#suppress;
      this.#alarmed = true;
      return this.#alarmScore > 0 ? this.#alarmScore : score;
    }
    return this.#alarmScore > 0 ? score / 2 : score;
  }
}
