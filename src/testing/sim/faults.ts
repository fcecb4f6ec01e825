import type { FaultRule, FsCall } from './types.js';

/**
 * The fault rules of a simulated disk ({@link SimulatedDisk.failNext}): which call fails next.
 * Internal to raft-metadata/testing.
 */

interface ArmedFault {
  readonly rule: FaultRule;
  readonly ops: ReadonlySet<FsCall>;
  seen: number;
}

export class Faults {
  #armed: ArmedFault[] = [];

  /** Arms `rule`. Rules stack; each counts its own matches. */
  add(rule: FaultRule): void {
    if (rule.nth !== undefined && (!Number.isInteger(rule.nth) || rule.nth < 1)) {
      throw new RangeError(`nth must be an integer >= 1, got ${rule.nth}`);
    }
    const ops = new Set<FsCall>(typeof rule.op === 'string' ? [rule.op] : rule.op);
    this.#armed.push({ rule, ops, seen: 0 });
  }

  /** Removes every rule not yet fired. */
  clear(): void {
    this.#armed = [];
  }

  /**
   * The rule that makes this call of `call` on `path` fail, if any. Every rule that matches the
   * call counts it, up to the first that fires; a rule that is not persistent fires once.
   */
  match(call: FsCall, path: string): FaultRule | undefined {
    for (const armed of this.#armed) {
      const { rule } = armed;
      if (!armed.ops.has(call)) continue;
      if (rule.path !== undefined) {
        const ok = typeof rule.path === 'string' ? rule.path === path : rule.path.test(path);
        if (!ok) continue;
      }
      armed.seen++;
      const nth = rule.nth ?? 1;
      if (armed.seen < nth) continue;
      if (!rule.persistent) this.#armed = this.#armed.filter((f) => f !== armed);
      return rule;
    }
    return undefined;
  }
}
