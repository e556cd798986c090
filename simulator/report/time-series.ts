/** Per-second counters for throughput charts. Pure; bins are relative to `startMs`. */
export class TimeSeries {
  readonly startMs: number;
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
  /** series by name, one value per second from the start, all the same length */
  toJSON(): { seconds: number; series: Record<string, number[]> } {
    const len = Math.max(0, ...[...this.#bins.values()].map((b) => b.length));
    const series: Record<string, number[]> = {};
    for (const [k, b] of this.#bins) series[k] = [...b, ...new Array<number>(len - b.length).fill(0)];
    return { seconds: len, series };
  }
}
