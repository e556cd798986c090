/**
 * TransportBase: the part of a Transport that does not depend on the MQTT client behind it. It owns the
 * connection state, the in-flight publishes and the subscriptions, and answers `connected`, `stats`,
 * `subscribe()` and an idempotent `close()`; a subclass sends through its client and closes it.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { EdgeloopError } from '../protocol/errors.ts';
import { ConnectionState } from './connection-state.ts';
import { InFlight, type Settleable } from './inflight.ts';
import { type SendSubscribe, Subscriptions } from './subscriptions.ts';
import type { Transport, TransportEvents, TransportMessage, TransportStats } from './transport.ts';

export interface TransportBaseInit {
  clock: Clock;
  log: Logger;
  clientId: string;
  /** the broker as messages name it (a URL or an endpoint host) */
  target: string;
}

export abstract class TransportBase<P extends Settleable> extends EventEmitter<TransportEvents> implements Transport {
  protected readonly clock: Clock;
  protected readonly log: Logger;
  protected readonly conn: ConnectionState;
  protected readonly flight = new InFlight<P>();
  protected readonly subs = new Subscriptions();
  #closePromise: Promise<void> | undefined;

  constructor(init: TransportBaseInit) {
    super();
    this.clock = init.clock;
    this.log = init.log;
    this.conn = new ConnectionState({ ...init, events: this });
  }

  /** The first start(): build the client and connect (conn.started is already true). */
  protected abstract connect(): void;
  /** start() after reconnecting gave up: a fresh round of attempts. */
  protected abstract retryAfterGivingUp(): void;
  /**
   * start() waits for a reconnection already under way: the timers it waits on must hold the process open
   * (connection-state.ts awaitingStart); a transport whose client holds the process by itself has nothing to do.
   */
  protected holdForStart(): void {}
  abstract publish(msg: TransportMessage): Promise<void>;
  /** SUBSCRIBE through the client; it calls `this.subs.settle()` once the broker answered every packet */
  protected abstract readonly sendSubscribe: SendSubscribe;
  /** reconnect attempts since the last stable connection, as the transport's reconnect logic counts them */
  protected abstract get reconnectAttempt(): number;
  /** close() after `conn.beginClose()`: finish or fail what is in flight, free the client */
  protected abstract closeClient(): Promise<void>;

  start(): Promise<void> {
    const conn = this.conn;
    if (conn.closing) return Promise.reject(conn.closedError('start'));
    if (conn.connected) return Promise.resolve();
    const p = conn.waitForStart();
    if (!conn.started) {
      conn.started = true;
      this.connect();
    } else if (conn.gaveUp) this.retryAfterGivingUp();
    else this.holdForStart();
    return p;
  }

  /**
   * The first step of close(): no new work; publishes still waiting for a slot, start() and subscribe() waiters
   * fail with EL_ERR_TRANSPORT_CLOSED (returned, for what close() fails later). Sent publishes may still finish.
   */
  protected beginClose(): EdgeloopError {
    this.conn.closing = true;
    const closed = this.conn.closedError('operation');
    this.flight.failWaiting(closed);
    this.conn.settleStart(closed);
    this.subs.rejectAll(closed);
    return closed;
  }

  get connected(): boolean {
    return this.conn.connected;
  }

  get stats(): TransportStats {
    return this.flight.stats(this.conn, this.reconnectAttempt);
  }

  subscribe(topics: string[], qos: 0 | 1): Promise<void> {
    // offline: it is sent, with every other subscription, right after the next connect
    return this.subs.add(topics, qos, this.conn, this.sendSubscribe);
  }

  close(): Promise<void> {
    this.#closePromise ??= this.closeClient();
    return this.#closePromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
