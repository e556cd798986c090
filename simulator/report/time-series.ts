/** Per-second counters for throughput charts. Pure; bins are relative to `startMs`. */
export class TimeSeries {
  startMs: number;
  readonly #bins = new Map<string, number[]>();

  constructor(startMs: number) {
    this.startMs = startMs;
  }
  add(name: string, atMs: number, n = 1): void {
    const i = Math.max(0, Math.floor((atMs - this.startMs) / 1000));
    let b = this.#bins.get(name);
    if (!b) {
      b = [];
      this.#bins.set(name, b);
    }
    while (b.length <= i) b.push(0);
    b[i]! += n;
  }
  /** Move the origin later (e.g. to the start of publishing), dropping the whole seconds before it. */
  rebase(startMs: number): void {
    const drop = Math.floor((startMs - this.startMs) / 1000);
    if (drop <= 0) return;
    for (const [k, b] of this.#bins) this.#bins.set(k, b.slice(drop));
    this.startMs += drop * 1000;
  }

  /** series by name, one value per second from the start, all the same length */
  toJSON(): { seconds: number; series: Record<string, number[]> } {
    const len = Math.max(0, ...[...this.#bins.values()].map((b) => b.length));
    const series: Record<string, number[]> = {};
    for (const [k, b] of this.#bins) series[k] = [...b, ...new Array<number>(len - b.length).fill(0)];
    return { seconds: len, series };
  }
}
