/**
 * StatusReporter: publishes the retained status message (protocol StatusMessage) every `intervalMs` and whenever
 * `changed()` is called (model swap, connection, new last error), at most once per `minIntervalMs`. Status is not
 * queued in the outbox: it is a snapshot, the next one replaces it; while offline nothing is sent and the first
 * status after a reconnect is the fresh one. The transport's last will carries `online: false`.
 */
import { Topics } from '../../protocol/topics.ts';
import { encodeMessage, type StatusMessage } from '../../protocol/messages.ts';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { Transport } from '../../transport/transport.ts';

export interface StatusReporterOptions {
  transport: Transport;
  deviceId: string;
  topics?: Topics;
  /** builds the current status (online: true) */
  snapshot: () => StatusMessage;
  intervalMs?: number;
  /** coalesce change-triggered publishes, ms, default 1000 */
  minIntervalMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/** The last-will payload: the device went away without saying goodbye. */
export function offlineStatus(deviceId: string, seq: number, ts: number): StatusMessage {
  return { v: 1, type: 'status', deviceId, seq, ts, online: false };
}

export class StatusReporter {
  readonly #o: StatusReporterOptions & { intervalMs: number; minIntervalMs: number };
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #topic: string;
  #timer: TimerHandle | undefined;
  #changeTimer: TimerHandle | undefined;
  #last = -Infinity;
  #started = false;
  #closed = false;
  #published = 0;
  #sending: Promise<void> | undefined;
  readonly #onConnect = (): void => void this.publishNow();

  constructor(opts: StatusReporterOptions) {
    this.#o = { ...opts, intervalMs: opts.intervalMs ?? 30_000, minIntervalMs: opts.minIntervalMs ?? 1000 };
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.logger ?? silentLogger;
    this.#topic = (opts.topics ?? new Topics()).status(opts.deviceId);
  }

  get published(): number {
    return this.#published;
  }

  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#o.transport.on('connect', this.#onConnect);
    if (this.#o.transport.connected) void this.publishNow();
    this.#schedule();
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.publishNow().finally(() => {
        if (!this.#closed) this.#schedule();
      });
    }, this.#o.intervalMs);
    this.#timer.unref?.();
  }

  /** Something in the status changed: publish soon (coalesced). */
  changed(): void {
    if (!this.#started || this.#closed || this.#changeTimer) return;
    const wait = Math.max(0, this.#last + this.#o.minIntervalMs - this.#clock.now());
    this.#changeTimer = this.#clock.setTimeout(() => {
      this.#changeTimer = undefined;
      void this.publishNow();
    }, wait);
    this.#changeTimer.unref?.();
  }

  /** Publish the current status now (retained, QoS 1); resolves when acknowledged or failed (never rejects). */
  async publishNow(message?: StatusMessage): Promise<void> {
    if (this.#closed && !message) return;
    const t = this.#o.transport;
    if (!t.connected) return;
    this.#last = this.#clock.now();
    const m = message ?? this.#o.snapshot();
    const p = t
      .publish({ topic: this.#topic, payload: encodeMessage(m), qos: 1, retain: true })
      .then(() => {
        this.#published++;
      })
      .catch((err: unknown) => this.#log.debug({ err }, 'status not published'));
    this.#sending = p;
    await p;
  }

  /** Stop the timers; with `final`, publish it (e.g. online:false on a clean shutdown) first. Idempotent. */
  async close(final?: StatusMessage): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#o.transport.off('connect', this.#onConnect);
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    if (this.#changeTimer) this.#clock.clearTimeout(this.#changeTimer);
    this.#timer = this.#changeTimer = undefined;
    await this.#sending;
    if (final) await this.publishNow(final);
  }
}
