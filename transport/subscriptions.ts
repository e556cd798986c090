/**
 * Subscriptions: every topic filter a transport was asked to subscribe (restored after each reconnect) and the
 * subscribe() calls waiting for their SUBACK, apart from how the client sends SUBSCRIBE.
 */
import { EdgeloopError } from '../protocol/errors.ts';
import type { ConnectionState } from './connection-state.ts';

/** AWS IoT Core accepts at most 8 topic filters per SUBSCRIBE */
export const SUBSCRIBE_BATCH = 8;

export type SubscriptionEntry = readonly [topic: string, qos: 0 | 1];

export interface SubWaiter {
  topics: string[];
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Sends SUBSCRIBE for `entries`; the transport calls settle() once the broker answered them all. */
export type SendSubscribe = (entries: readonly SubscriptionEntry[], waiters: SubWaiter[], onlyIfNew: boolean) => void;

export class Subscriptions {
  readonly #subs = new Map<string, 0 | 1>();
  #waiters: SubWaiter[] = [];

  /** Transport.subscribe(): checked, remembered, and sent now when connected (else right after the next connect). */
  add(topics: string[], qos: 0 | 1, conn: ConnectionState, send: SendSubscribe): Promise<void> {
    if (conn.closing) return Promise.reject(conn.closedError('subscribe'));
    if (!Array.isArray(topics) || topics.length === 0 || topics.some((t) => typeof t !== 'string' || t.length === 0)) {
      return Promise.reject(
        new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'subscribe: topics must be a non-empty array of topic filters'),
      );
    }
    if (qos !== 0 && qos !== 1) {
      return Promise.reject(
        new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `subscribe: qos must be 0 or 1, got ${String(qos)}`),
      );
    }
    for (const t of topics) this.#subs.set(t, qos);
    return new Promise<void>((resolve, reject) => {
      const w: SubWaiter = { topics, resolve, reject };
      this.#waiters.push(w);
      if (conn.connected)
        send(
          topics.map((t) => [t, qos] as const),
          [w],
          false,
        );
    });
  }

  /** After a connect: every subscription again, for every waiter (`onlyIfNew`: the session was resumed). */
  restore(onlyIfNew: boolean, send: SendSubscribe): void {
    if (this.#subs.size === 0) return;
    send([...this.#subs], [...this.#waiters], onlyIfNew);
  }

  /** The broker answered: refused filters are forgotten, their waiters rejected, the others resolved. */
  settle(refused: Set<string>, waiters: SubWaiter[]): void {
    for (const t of refused) this.#subs.delete(t);
    for (const w of waiters) {
      const i = this.#waiters.indexOf(w);
      if (i < 0) continue;
      this.#waiters.splice(i, 1);
      const bad = w.topics.filter((t) => refused.has(t));
      if (bad.length > 0) {
        w.reject(
          new EdgeloopError('EL_ERR_TRANSPORT_REJECTED', `broker refused the subscription to ${bad.join(', ')}`),
        );
      } else w.resolve();
    }
  }

  rejectAll(err: Error): void {
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }
}

/** `entries` in packets of at most SUBSCRIBE_BATCH filters. */
export function subscribeBatches(entries: readonly SubscriptionEntry[]): (readonly SubscriptionEntry[])[] {
  const out: (readonly SubscriptionEntry[])[] = [];
  for (let i = 0; i < entries.length; i += SUBSCRIBE_BATCH) out.push(entries.slice(i, i + SUBSCRIBE_BATCH));
  return out;
}
