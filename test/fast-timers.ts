import fc from 'fast-check';

/**
 * Captures setInterval callbacks (the manager's flush timer) instead of scheduling them, so that a
 * test fires them exactly when it decides: deterministic, and reproducible from a seed.
 */
export function manualIntervals(): { fire(): void; restore(): void } {
  const realSet = globalThis.setInterval;
  const realClear = globalThis.clearInterval;
  // Weak: a manager abandoned by the model (a SIGKILL closes nothing) must not be kept alive, with
  // its simulated disk and trace, by its flush timer for the rest of a long property run.
  type Handle = { callback: () => void };
  const live = new Set<WeakRef<Handle>>();
  const refs = new WeakMap<Handle, WeakRef<Handle>>();
  const forget = (handle: Handle): void => {
    const ref = refs.get(handle);
    if (ref !== undefined) live.delete(ref);
  };
  const fake = (callback: () => void): NodeJS.Timeout => {
    const handle = {
      callback,
      unref: () => handle,
      ref: () => handle,
      hasRef: () => false,
      refresh: () => handle,
      close: () => {
        forget(handle);
        return handle;
      },
      [Symbol.toPrimitive]: () => 0,
      [Symbol.dispose]: () => {
        forget(handle);
      },
    };
    const ref = new WeakRef<Handle>(handle);
    refs.set(handle, ref);
    live.add(ref);
    return handle as unknown as NodeJS.Timeout;
  };
  globalThis.setInterval = fake as unknown as typeof setInterval;
  globalThis.clearInterval = ((handle: unknown) => {
    if (typeof handle === 'object' && handle !== null) forget(handle as Handle);
  }) as typeof clearInterval;
  return {
    fire() {
      for (const ref of [...live]) {
        const handle = ref.deref();
        if (handle === undefined) live.delete(ref);
        else handle.callback();
      }
    },
    restore() {
      globalThis.setInterval = realSet;
      globalThis.clearInterval = realClear;
    },
  };
}

/**
 * A vitest timeout for a property test: at least a minute, more for long runs (`PROPERTY_RUNS`
 * raises fast-check's global `numRuns`, see test/setup-fast-check.ts).
 */
export function propertyTimeout(msPerRun: number): number {
  const runs = fc.readConfigureGlobal().numRuns ?? 100;
  return Math.max(60_000, runs * msPerRun);
}

/**
 * fast-check parameters to replay one failure: `PROPERTY_SEED=<seed> PROPERTY_PATH=<path>` (both
 * printed in the failure report). Empty when they are not set.
 */
export function replayParameters(): { seed?: number; path?: string } {
  const seed = process.env.PROPERTY_SEED;
  const path = process.env.PROPERTY_PATH;
  if (seed === undefined) return {};
  return path === undefined ? { seed: Number(seed) } : { seed: Number(seed), path };
}
