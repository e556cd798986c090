/**
 * ConnectionState: what both transports keep about their connection, apart from the client that makes it: the
 * lifecycle flags, the start() waiters and their deadline, the connect/offline announcements (log, diagnostics
 * channel, event), giving up on reconnecting, and the errors of a closed or offline transport.
 */
import { channel } from 'node:diagnostics_channel';
import type { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { EdgeloopError } from '../protocol/errors.ts';
import type { TransportEvents } from './transport.ts';

const connectChannel = channel('edgeloop:transport:connect');
const offlineChannel = channel('edgeloop:transport:offline');

export interface ConnectionStateOptions {
  clock: Clock;
  log: Logger;
  /** the transport: its 'connect', 'offline' and 'error' events are emitted here */
  events: EventEmitter<TransportEvents>;
  clientId: string;
  /** the broker as the messages name it (a URL or an endpoint host) */
  target: string;
}

export class ConnectionState {
  connected = false;
  started = false;
  closing = false;
  /** reconnecting stopped after reconnect.maxAttempts; start() begins a fresh round */
  gaveUp = false;
  lastError: Error | undefined;
  /** successful connections since start */
  connects = 0;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #events: EventEmitter<TransportEvents>;
  readonly #clientId: string;
  readonly #target: string;
  #startWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #startTimer: TimerHandle | undefined;

  constructor(opts: ConnectionStateOptions) {
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#events = opts.events;
    this.#clientId = opts.clientId;
    this.#target = opts.target;
  }

  /**
   * A start() is waiting for its connection. Its timers (the deadline, the next reconnect attempt) then hold the
   * process open: an awaited start must not end with the event loop drained (Node would exit 13 with the start
   * unsettled). Once connected, the transport's timers are unref'd and its owner keeps the process alive.
   */
  get awaitingStart(): boolean {
    return this.#startWaiters.length > 0;
  }

  /** A promise that settles with the next connection (or the error that ends the wait). */
  waitForStart(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#startWaiters.push({ resolve, reject }));
  }

  /**
   * Reject the start() waiters with EL_ERR_TRANSPORT_TIMEOUT when not connected within `ms` (0 = no deadline). The
   * deadline is a ref'd timer: it exists only while a start() waits (settleStart clears it).
   */
  armStartTimeout(ms: number): void {
    if (ms <= 0) return;
    this.#startTimer = this.#clock.setTimeout(() => {
      this.#startTimer = undefined;
      this.settleStart(
        new EdgeloopError(
          'EL_ERR_TRANSPORT_TIMEOUT',
          `not connected to ${this.#target} within startTimeoutMs ${ms} ms`,
          {
            cause: this.lastError,
          },
        ),
      );
    }, ms);
  }

  settleStart(err?: Error): void {
    if (this.#startTimer !== undefined) {
      this.#clock.clearTimeout(this.#startTimer);
      this.#startTimer = undefined;
    }
    const waiters = this.#startWaiters;
    this.#startWaiters = [];
    for (const w of waiters) err ? w.reject(err) : w.resolve();
  }

  /** The connection is up: flags, counters, log line and diagnostics channel (the caller then resubscribes). */
  markConnected(logFields: Record<string, unknown>): void {
    this.connected = true;
    this.connects++;
    this.lastError = undefined;
    this.#log.info({ ...logFields, connects: this.connects }, 'connected');
    if (connectChannel.hasSubscribers) connectChannel.publish({ clientId: this.#clientId, connects: this.connects });
  }

  /** After markConnected and the resubscription: start() resolves and 'connect' is emitted. */
  announceConnected(): void {
    this.settleStart();
    this.#events.emit('connect');
  }

  announceOffline(reason: string): void {
    this.#log.warn({ reason }, 'offline');
    if (offlineChannel.hasSubscribers) offlineChannel.publish({ clientId: this.#clientId, reason });
    this.#events.emit('offline', reason);
  }

  /** Stop reconnecting: the error goes to the start() waiters, or else to 'error' listeners. */
  giveUp(failedAttempts: number, maxAttempts: number, reason: string, cause: Error | undefined): void {
    this.gaveUp = true;
    const err = new EdgeloopError(
      'EL_ERR_TRANSPORT_CONNECT',
      `gave up connecting to ${this.#target} after ${failedAttempts} failed attempts (reconnect.maxAttempts ${maxAttempts}): ${reason}`,
      { cause },
    );
    if (this.#startWaiters.length > 0) this.settleStart(err);
    else this.emitError(err);
  }

  /** 'error' only reaches listeners: an unobserved transport error must not crash the process. */
  emitError(err: Error): void {
    if (this.#events.listenerCount('error') > 0) this.#events.emit('error', err);
  }

  offlineError(): EdgeloopError {
    return new EdgeloopError('EL_ERR_TRANSPORT_OFFLINE', `publish: not connected to ${this.#target}`);
  }

  closedError(what: string, cause?: unknown): EdgeloopError {
    return new EdgeloopError(
      'EL_ERR_TRANSPORT_CLOSED',
      `${what}: the transport is closed`,
      cause === undefined ? undefined : { cause },
    );
  }
}
