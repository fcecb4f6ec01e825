/**
 * The benchmark's chart, drawn as plain SVG (no plotting dependency): a bar chart of one writer's
 * durable updates per second per variant, and a log-log line chart of raft-metadata's throughput
 * against the number of concurrent writers.
 */
import { formatRate, formatRatio } from '../lib/stats.js';

const WIDTH = 980;
const FONT = 'font-family="ui-sans-serif, system-ui, sans-serif"';
const COLORS = {
  floor: '#8a8f98',
  peer: '#e08a2c',
  raft: '#2f6fd6',
  ablation: '#9b59b6',
  compaction: '#2f6fd6',
};

function esc(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function text(x, y, content, attrs = '') {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(content)}</text>`;
}

/**
 * bars: [{ label, group, median, min, max, ratio }] (ratio to the floor); returns { svg, height }
 * for a panel whose top-left corner is at y = `top`.
 */
function barPanel(bars, top, title) {
  const labelWidth = 330;
  const right = 170;
  const rowHeight = 22;
  const plotLeft = labelWidth + 10;
  const plotWidth = WIDTH - plotLeft - right;
  const maxValue = Math.max(...bars.map((b) => b.max ?? b.median ?? 0), 1);
  const scale = (v) => (v / maxValue) * plotWidth;
  const parts = [text(20, top + 22, title, `${FONT} font-size="16" font-weight="600"`)];
  const plotTop = top + 40;
  // Vertical grid lines at round values.
  const step = niceStep(maxValue / 5);
  for (let v = 0; v <= maxValue; v += step) {
    const x = plotLeft + scale(v);
    parts.push(
      `<line x1="${x.toFixed(1)}" y1="${plotTop - 4}" x2="${x.toFixed(1)}" y2="${plotTop + bars.length * rowHeight}" stroke="#e3e5e8"/>`,
      text(
        x,
        plotTop + bars.length * rowHeight + 14,
        formatRate(v),
        `${FONT} font-size="11" fill="#666" text-anchor="middle"`,
      ),
    );
  }
  bars.forEach((bar, i) => {
    const y = plotTop + i * rowHeight;
    const color = COLORS[bar.group] ?? '#555';
    parts.push(text(plotLeft - 8, y + 15, bar.label, `${FONT} font-size="12" text-anchor="end"`));
    if (bar.median === undefined) return;
    parts.push(
      `<rect x="${plotLeft}" y="${y + 4}" width="${scale(bar.median).toFixed(1)}" height="${rowHeight - 8}" fill="${color}" rx="2"/>`,
    );
    if (bar.min !== undefined && bar.max !== undefined) {
      const x1 = plotLeft + scale(bar.min);
      const x2 = plotLeft + scale(bar.max);
      const cy = y + rowHeight / 2;
      parts.push(
        `<path d="M${x1.toFixed(1)} ${cy}H${x2.toFixed(1)}M${x1.toFixed(1)} ${cy - 4}V${cy + 4}M${x2.toFixed(1)} ${cy - 4}V${cy + 4}" stroke="#222" stroke-width="1"/>`,
      );
    }
    const label = `${formatRate(bar.median)}/s${bar.ratio === undefined ? '' : `  ${formatRatio(bar.ratio)}`}`;
    parts.push(
      text(
        plotLeft + scale(Math.max(bar.max ?? 0, bar.median)) + 6,
        y + 15,
        label,
        `${FONT} font-size="11" fill="#333"`,
      ),
    );
  });
  const legendY = plotTop + bars.length * rowHeight + 34;
  const legend = [
    ['floor', 'raw syscalls (floors)'],
    ['peer', 'peers'],
    ['raft', 'raft-metadata'],
  ];
  legend.forEach(([group, name], i) => {
    const x = plotLeft + i * 180;
    parts.push(
      `<rect x="${x}" y="${legendY - 10}" width="12" height="12" fill="${COLORS[group]}"/>`,
      text(x + 18, legendY, name, `${FONT} font-size="12"`),
    );
  });
  parts.push(
    text(
      plotLeft,
      legendY + 18,
      'bar: median of the rounds; whisker: min to max; ratio: to Node writeSync+fdatasyncSync (append)',
      `${FONT} font-size="11" fill="#666"`,
    ),
  );
  return { svg: parts.join('\n'), height: legendY + 30 - top };
}

/** The nearest of 1, 2, 5 x 10^k below (`down`) or above (`up`) `value`. */
function niceBound(value, direction) {
  const e = Math.floor(Math.log10(value));
  const candidates = [-1, 0, 1].flatMap((d) => [1, 2, 5].map((m) => m * 10 ** (e + d)));
  return direction === 'down'
    ? Math.max(...candidates.filter((c) => c <= value))
    : Math.min(...candidates.filter((c) => c >= value));
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/**
 * points: [{ writers, median, min, max, batch }]; floor: updates/s of the Node raw floor;
 * targets: [{ writers, value, label }].
 */
function linePanel(points, top, title, floor, targets) {
  const left = 90;
  const right = 200;
  const height = 340;
  const plotTop = top + 40;
  const plotWidth = WIDTH - left - right;
  const plotHeight = height - 70;
  const xs = points.map((p) => p.writers);
  const xMin = Math.log2(Math.min(...xs));
  const xMax = Math.log2(Math.max(...xs));
  const values = points.flatMap((p) => [p.min, p.max, p.median]).filter((v) => v > 0);
  const one = points.find((p) => p.writers === 1)?.median;
  if (one !== undefined) values.push(one * Math.max(...xs));
  if (floor !== undefined) values.push(floor);
  for (const t of targets) values.push(t.value);
  const yMin = Math.log10(niceBound(Math.min(...values), 'down'));
  const yMax = Math.log10(niceBound(Math.max(...values) * 1.15, 'up'));
  const x = (w) => left + ((Math.log2(w) - xMin) / (xMax - xMin || 1)) * plotWidth;
  const y = (v) => plotTop + plotHeight - ((Math.log10(v) - yMin) / (yMax - yMin || 1)) * plotHeight;
  const parts = [text(20, top + 22, title, `${FONT} font-size="16" font-weight="600"`)];
  for (let e = Math.floor(yMin); e <= Math.ceil(yMax); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) > yMax + 1e-9 || Math.log10(v) < yMin - 1e-9) continue;
      const yy = y(v);
      parts.push(
        `<line x1="${left}" y1="${yy.toFixed(1)}" x2="${left + plotWidth}" y2="${yy.toFixed(1)}" stroke="${m === 1 ? '#d5d8dc' : '#eef0f2'}"/>`,
        text(left - 8, yy + 4, formatRate(v), `${FONT} font-size="11" fill="#666" text-anchor="end"`),
      );
    }
  }
  for (const w of xs) {
    parts.push(
      `<line x1="${x(w).toFixed(1)}" y1="${plotTop}" x2="${x(w).toFixed(1)}" y2="${plotTop + plotHeight}" stroke="#eef0f2"/>`,
      text(
        x(w),
        plotTop + plotHeight + 16,
        String(w),
        `${FONT} font-size="11" fill="#666" text-anchor="middle"`,
      ),
    );
  }
  parts.push(
    text(
      left + plotWidth / 2,
      plotTop + plotHeight + 34,
      'concurrent writers',
      `${FONT} font-size="12" text-anchor="middle"`,
    ),
    text(
      22,
      plotTop + plotHeight / 2,
      'acknowledged updates/s',
      `${FONT} font-size="12" text-anchor="middle" transform="rotate(-90 22 ${(plotTop + plotHeight / 2).toFixed(1)})"`,
    ),
  );
  if (one !== undefined) {
    const last = Math.max(...xs);
    parts.push(
      `<path d="M${x(1).toFixed(1)} ${y(one).toFixed(1)}L${x(last).toFixed(1)} ${y(one * last).toFixed(1)}" stroke="#999" stroke-dasharray="5 4" fill="none"/>`,
      text(x(last) + 6, y(one * last) + 4, 'N x one writer', `${FONT} font-size="11" fill="#777"`),
    );
  }
  if (floor !== undefined) {
    parts.push(
      `<path d="M${left} ${y(floor).toFixed(1)}H${left + plotWidth}" stroke="${COLORS.floor}" stroke-dasharray="2 3" fill="none"/>`,
      text(
        left + plotWidth + 6,
        y(floor) + 4,
        'Node raw floor (1 writer)',
        `${FONT} font-size="11" fill="#777"`,
      ),
    );
  }
  for (const t of targets) {
    parts.push(
      `<circle cx="${x(t.writers).toFixed(1)}" cy="${y(t.value).toFixed(1)}" r="6" fill="none" stroke="#d33" stroke-width="1.5"/>`,
      text(x(t.writers) + 9, y(t.value) + 14, t.label, `${FONT} font-size="10" fill="#d33"`),
    );
  }
  const drawn = points.filter((p) => p.median !== undefined);
  parts.push(
    `<path d="${drawn.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.writers).toFixed(1)} ${y(p.median).toFixed(1)}`).join('')}" stroke="${COLORS.raft}" stroke-width="2" fill="none"/>`,
  );
  for (const [i, p] of drawn.entries()) {
    if (p.min !== undefined && p.max !== undefined) {
      parts.push(
        `<path d="M${x(p.writers).toFixed(1)} ${y(p.min).toFixed(1)}V${y(p.max).toFixed(1)}" stroke="${COLORS.raft}" stroke-width="1"/>`,
      );
    }
    parts.push(
      `<circle cx="${x(p.writers).toFixed(1)}" cy="${y(p.median).toFixed(1)}" r="3.5" fill="${COLORS.raft}"/>`,
      text(
        x(p.writers) + (i === 0 ? 6 : 0),
        y(p.median) - 9,
        `${formatRate(p.median)}${p.batch === undefined ? '' : ` (b ${p.batch.toFixed(1)})`}`,
        `${FONT} font-size="10" fill="#234" text-anchor="${i === 0 ? 'start' : 'middle'}"`,
      ),
    );
  }
  parts.push(
    text(
      left,
      plotTop + plotHeight + 52,
      'raft-metadata: median of the rounds, line from min to max; b: mean updates per fdatasync; red circles: targets',
      `${FONT} font-size="11" fill="#666"`,
    ),
  );
  return { svg: parts.join('\n'), height: height + 30 };
}

/** The whole chart document. */
export function renderChart({ bars, points, floor, targets, subtitle }) {
  const first = barPanel(bars, 30, 'One writer: durable updates per second');
  const second = linePanel(
    points,
    30 + first.height + 20,
    'raft-metadata: throughput against writers (log-log)',
    floor,
    targets,
  );
  const height = 30 + first.height + 20 + second.height;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    text(20, 20, subtitle, `${FONT} font-size="11" fill="#666"`),
    first.svg,
    second.svg,
    '</svg>',
    '',
  ].join('\n');
}
