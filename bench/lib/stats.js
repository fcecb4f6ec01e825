/** Small statistics helpers for the benchmark: latency recording, quantiles, medians. */

/** Collects latencies in microseconds without per-sample allocation. */
export class LatencyRecorder {
  #data = new Float64Array(16384);
  #length = 0;

  add(us) {
    if (this.#length === this.#data.length) {
      const grown = new Float64Array(this.#data.length * 2);
      grown.set(this.#data);
      this.#data = grown;
    }
    this.#data[this.#length++] = us;
  }

  get length() {
    return this.#length;
  }

  /** p50, p99 and max in microseconds (undefined when nothing was recorded). */
  summary() {
    if (this.#length === 0) return { p50: undefined, p99: undefined, max: undefined, samples: 0 };
    const sorted = this.#data.slice(0, this.#length).sort();
    return {
      p50: quantileSorted(sorted, 0.5),
      p99: quantileSorted(sorted, 0.99),
      max: sorted[sorted.length - 1],
      samples: this.#length,
    };
  }
}

/** Nearest-rank quantile of an ascending array. */
export function quantileSorted(sorted, q) {
  if (sorted.length === 0) return undefined;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index];
}

/** Median of the defined numbers in `values` (mean of the middle two for an even count). */
export function median(values) {
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

export function min(values) {
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  return xs.length === 0 ? undefined : Math.min(...xs);
}

export function max(values) {
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  return xs.length === 0 ? undefined : Math.max(...xs);
}

/** Formats a number of updates per second: 5,432 or 123.4k. */
export function formatRate(value) {
  if (value === undefined) return '-';
  if (value >= 100_000) return `${(value / 1000).toFixed(0)}k`;
  if (value >= 10_000) return `${(value / 1000).toFixed(1)}k`;
  return Math.round(value).toLocaleString('en-US');
}

/** Formats microseconds: 182 us, 1.23 ms, 1.5 s. */
export function formatMicros(us) {
  if (us === undefined) return '-';
  if (us >= 1_000_000) return `${(us / 1_000_000).toFixed(2)} s`;
  if (us >= 10_000) return `${(us / 1000).toFixed(1)} ms`;
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  return `${Math.round(us)} us`;
}

export function formatRatio(value) {
  if (value === undefined) return '-';
  if (value >= 100) return `${value.toFixed(0)}x`;
  if (value >= 10) return `${value.toFixed(1)}x`;
  return `${value.toFixed(2)}x`;
}

export function formatMs(ms) {
  if (ms === undefined) return '-';
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function formatBytes(bytes) {
  if (bytes === undefined) return '-';
  const sign = bytes < 0 ? '-' : '';
  const b = Math.abs(bytes);
  if (b >= 1 << 20) return `${sign}${(b / (1 << 20)).toFixed(1)} MiB`;
  if (b >= 1 << 10) return `${sign}${(b / (1 << 10)).toFixed(0)} KiB`;
  return `${sign}${b} B`;
}
