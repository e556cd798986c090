/**
 * Threshold alert rules on features, pure logic. A rule is `<feature> <op> <number>` (e.g.
 * `temperature_mean_1m > 80`), op one of > >= < <= == !=. Alerts are edge-triggered per (device, rule): one
 * 'firing' alert when the condition becomes true, one 'resolved' when it becomes false again; a missing or
 * non-numeric feature leaves the state as it is.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FeatureValue } from '../feature-store/feature-store.ts';

export type AlertOp = '>' | '>=' | '<' | '<=' | '==' | '!=';
export type AlertSeverity = 'info' | 'warning' | 'critical';

export interface AlertRuleSpec {
  /** `<feature> <op> <number>` */
  when: string;
  /** default 'warning' */
  severity?: AlertSeverity;
  /** default: the `when` text */
  name?: string;
}

export interface AlertRule {
  name: string;
  feature: string;
  op: AlertOp;
  threshold: number;
  severity: AlertSeverity;
}

export interface Alert {
  rule: string;
  state: 'firing' | 'resolved';
  severity: AlertSeverity;
  deviceId: string;
  feature: string;
  op: AlertOp;
  threshold: number;
  value: number;
  /** event time of the feature record that changed the state, ms */
  eventTime: number;
}

const RULE_RE = /^\s*([A-Za-z0-9][A-Za-z0-9_-]*)\s*(>=|<=|==|!=|>|<)\s*(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$/;

export function parseAlertRule(spec: string | AlertRuleSpec): AlertRule {
  const s: AlertRuleSpec = typeof spec === 'string' ? { when: spec } : spec;
  const m = typeof s?.when === 'string' ? RULE_RE.exec(s.when) : null;
  if (!m) {
    throw new EdgeloopError(
      'EL_ERR_PROCESSOR_RULE_INVALID',
      `alert rule ${JSON.stringify(s?.when ?? spec)}: expected "<feature> <op> <number>" with op one of > >= < <= == != (e.g. "temperature_mean_1m > 80")`,
    );
  }
  const severity = s.severity ?? 'warning';
  if (severity !== 'info' && severity !== 'warning' && severity !== 'critical') {
    throw new EdgeloopError(
      'EL_ERR_PROCESSOR_RULE_INVALID',
      `alert rule ${JSON.stringify(s.when)}: severity must be info, warning or critical`,
    );
  }
  return {
    name: s.name ?? `${m[1]} ${m[2]} ${m[3]}`,
    feature: m[1]!,
    op: m[2] as AlertOp,
    threshold: Number(m[3]),
    severity,
  };
}

function test(op: AlertOp, v: number, t: number): boolean {
  switch (op) {
    case '>':
      return v > t;
    case '>=':
      return v >= t;
    case '<':
      return v < t;
    case '<=':
      return v <= t;
    case '==':
      return v === t;
    case '!=':
      return v !== t;
  }
}

export class AlertEvaluator {
  readonly rules: readonly AlertRule[];
  /** `${ruleIndex}\u0000${deviceId}` of firing alerts */
  readonly #firing = new Set<string>();

  constructor(rules: (string | AlertRuleSpec)[] = []) {
    if (!Array.isArray(rules)) throw new EdgeloopError('EL_ERR_PROCESSOR_RULE_INVALID', 'alert rules must be an array');
    this.rules = rules.map(parseAlertRule);
  }

  get firingCount(): number {
    return this.#firing.size;
  }

  /** Alerts whose state changed with this feature record. */
  evaluate(deviceId: string, eventTime: number, features: Record<string, FeatureValue>): Alert[] {
    const out: Alert[] = [];
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i]!;
      const v = features[r.feature];
      if (typeof v !== 'number') continue;
      const key = `${i}\u0000${deviceId}`;
      const now = test(r.op, v, r.threshold);
      const was = this.#firing.has(key);
      if (now === was) continue;
      if (now) this.#firing.add(key);
      else this.#firing.delete(key);
      out.push({
        rule: r.name,
        state: now ? 'firing' : 'resolved',
        severity: r.severity,
        deviceId,
        feature: r.feature,
        op: r.op,
        threshold: r.threshold,
        value: v,
        eventTime,
      });
    }
    return out;
  }

  forget(deviceId: string): void {
    for (let i = 0; i < this.rules.length; i++) this.#firing.delete(`${i}\u0000${deviceId}`);
  }
}
