/**
 * InFlight: the publishes of a transport from publish() to their settlement, apart from how the client sends
 * them: the checks before anything is queued, the PublishGate that grants slots and rate tokens, the set of
 * publishes sent and not yet acknowledged (in send order), and the acked/failed counters. Every publish settles
 * once: the first of ack, failure, disconnect or close wins.
 */
import { EdgeloopError } from '../protocol/errors.ts';
import type { ConnectionState } from './connection-state.ts';
import { publishArgumentError } from './publish-checks.ts';
import type { PublishGate } from './publish-gate.ts';
import type { TransportMessage, TransportStats } from './transport.ts';

/** One publish waiting for its settlement. */
export interface Settleable {
  resolve: () => void;
  reject: (err: Error) => void;
  done: boolean;
}

export class InFlight<P extends Settleable> {
  /** sent, not yet acked, in send order (the oldest first) */
  readonly sent = new Set<P>();
  acked = 0;
  failed = 0;
  #gate: PublishGate<P> | undefined;
  #onIdle: (() => void) | undefined;

  /** Transport.stats: `reconnectAttempt` is counted by the transport's own reconnect logic. */
  stats(conn: ConnectionState, reconnectAttempt: number): TransportStats {
    return {
      inFlight: this.sent.size,
      waiting: this.gate.waiting,
      acked: this.acked,
      failed: this.failed,
      connects: conn.connects,
      reconnectAttempt,
    };
  }

  /** The gate is built with this set's grant callback, so it is attached after construction. */
  attach(gate: PublishGate<P>): void {
    this.#gate = gate;
  }

  get gate(): PublishGate<P> {
    return this.#gate!;
  }

  /**
   * The common path of Transport.publish(): refuse when closed, malformed or offline, else queue the publish that
   * `make` builds on the gate (EL_ERR_TRANSPORT_QUEUE_FULL when its FIFO is full).
   */
  submit(
    msg: TransportMessage,
    conn: ConnectionState,
    maxPayloadBytes: number,
    make: (resolve: () => void, reject: (err: Error) => void) => P,
  ): Promise<void> {
    if (conn.closing) {
      this.failed++;
      return Promise.reject(conn.closedError('publish'));
    }
    const bad = publishArgumentError(msg, maxPayloadBytes);
    if (bad) return Promise.reject(bad);
    if (!conn.connected) {
      this.failed++;
      return Promise.reject(conn.offlineError());
    }
    return new Promise<void>((resolve, reject) => {
      const p = make(resolve, reject);
      try {
        this.gate.submit(p);
      } catch (err) {
        this.failed++;
        reject(err as Error);
      }
    });
  }

  /** A granted publish that found the connection gone: its slot is given back and it fails. */
  dropUnsent(p: P): void {
    this.gate.release();
    this.fail(p, new EdgeloopError('EL_ERR_TRANSPORT_DISCONNECTED', 'connection dropped before the publish was sent'));
  }

  /** The client's answer for `p` arrived: false when `p` was already settled another way (nothing to do). */
  answered(p: P): boolean {
    if (!this.sent.delete(p)) return false;
    this.gate.release();
    return true;
  }

  succeed(p: P): void {
    if (p.done) return;
    p.done = true;
    this.acked++;
    p.resolve();
    this.#checkIdle();
  }

  fail(p: P, err: Error): void {
    if (p.done) return;
    p.done = true;
    this.failed++;
    p.reject(err);
    this.#checkIdle();
  }

  /** Fail every sent and every waiting publish with `err` (a disconnect or close). */
  failAll(err: Error): void {
    for (const p of this.sent) this.fail(p, err);
    this.sent.clear();
    this.gate.resetInFlight();
    for (const p of this.gate.drain()) this.fail(p, err);
  }

  /** Fail the publishes still waiting for a slot, leaving the sent ones to finish. */
  failWaiting(err: Error): void {
    for (const p of this.gate.drain()) this.fail(p, err);
  }

  /** Resolves once nothing is in flight (or `stillConnected()` turns false), or after `timeoutMs`. */
  async idle(timeoutMs: number, stillConnected: () => boolean): Promise<void> {
    if (this.sent.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#onIdle = () => {
        if (this.sent.size === 0 || !stillConnected()) resolve();
      };
      timer = setTimeout(resolve, timeoutMs);
    });
    clearTimeout(timer);
    this.#onIdle = undefined;
  }

  #checkIdle(): void {
    this.#onIdle?.();
  }
}
