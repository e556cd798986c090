/**
 * Delivery completeness by sequence number: per device, which seqs arrived, which are missing (gaps), how many
 * arrived more than once (duplicates). Memory stays small when delivery is mostly in order: a contiguous
 * high-water mark plus the set of seqs seen above it. Pure.
 */
export class SeqTracker {
  /** every seq in [first, hw] has been seen */
  hw: number;
  readonly above = new Set<number>();
  duplicates = 0;
  received = 0;
  maxSeen = 0;

  constructor(first = 1) {
    this.hw = first - 1;
  }

  /** Record a seq; true when it is new, false for a duplicate. */
  add(seq: number): boolean {
    if (seq <= this.hw || this.above.has(seq)) {
      this.duplicates++;
      return false;
    }
    this.received++;
    if (seq > this.maxSeen) this.maxSeen = seq;
    if (seq === this.hw + 1) {
      this.hw = seq;
      while (this.above.delete(this.hw + 1)) this.hw++;
    } else {
      this.above.add(seq);
    }
    return true;
  }

  /** Seqs in [first, upTo] not seen. */
  missing(upTo: number): number {
    if (upTo <= this.hw) return 0;
    let seenAbove = 0;
    for (const s of this.above) if (s <= upTo) seenAbove++;
    return upTo - this.hw - seenAbove;
  }

  /** Up to `limit` missing ranges [from, to] in (hw, upTo]. */
  gaps(upTo: number, limit = 10): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    const seen = [...this.above].filter((s) => s <= upTo).sort((a, b) => a - b);
    let cursor = this.hw + 1;
    for (const s of [...seen, upTo + 1]) {
      if (s > cursor) {
        out.push([cursor, s - 1]);
        if (out.length >= limit) break;
      }
      cursor = s + 1;
    }
    return out;
  }
}

export interface DeviceDelivery {
  deviceId: string;
  /** last seq the device produced (expected) */
  expected: number;
  received: number;
  missing: number;
  duplicates: number;
  /** first missing ranges, at most 10 */
  gaps: Array<[number, number]>;
}

export class DeliveryTracker {
  readonly #devices = new Map<string, SeqTracker>();
  #duplicates = 0;
  #received = 0;

  record(deviceId: string, seq: number): boolean {
    let t = this.#devices.get(deviceId);
    if (!t) {
      t = new SeqTracker(1);
      this.#devices.set(deviceId, t);
    }
    const fresh = t.add(seq);
    if (fresh) this.#received++;
    else this.#duplicates++;
    return fresh;
  }

  get received(): number {
    return this.#received;
  }
  get duplicates(): number {
    return this.#duplicates;
  }
  get devicesSeen(): number {
    return this.#devices.size;
  }
  tracker(deviceId: string): SeqTracker | undefined {
    return this.#devices.get(deviceId);
  }

  /** Completeness per device against the last seq each device produced. */
  report(expected: ReadonlyMap<string, number>): DeviceDelivery[] {
    const out: DeviceDelivery[] = [];
    const ids = new Set([...expected.keys(), ...this.#devices.keys()]);
    for (const id of ids) {
      const t = this.#devices.get(id) ?? new SeqTracker(1);
      const exp = Math.max(expected.get(id) ?? 0, t.maxSeen);
      out.push({
        deviceId: id,
        expected: exp,
        received: t.received,
        missing: t.missing(exp),
        duplicates: t.duplicates,
        gaps: t.gaps(exp),
      });
    }
    return out.sort((a, b) => a.deviceId.localeCompare(b.deviceId, 'en', { numeric: true }));
  }

  /** Readings still missing, summed over devices (0 = fully drained). */
  missingTotal(expected: ReadonlyMap<string, number>): number {
    let n = 0;
    for (const [id, exp] of expected) n += (this.#devices.get(id) ?? new SeqTracker(1)).missing(exp);
    return n;
  }
}
