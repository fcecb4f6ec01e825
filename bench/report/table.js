/** Renders rows as an aligned text table (for the terminal) and as a Markdown table (for docs). */

/** columns: [{ title, align: 'left'|'right' }]; rows: arrays of strings. */
export function textTable(columns, rows) {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => String(r[i]).length)));
  const pad = (value, i) => {
    const s = String(value);
    return columns[i].align === 'left' ? s.padEnd(widths[i]) : s.padStart(widths[i]);
  };
  const line = (cells) => cells.map(pad).join('  ').trimEnd();
  return [
    line(columns.map((c) => c.title)),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
  ].join('\n');
}

export function markdownTable(columns, rows) {
  const cells = [columns.map((c) => c.title), ...rows].map((r) =>
    r.map((v) => String(v).replace(/\|/g, '\\|')),
  );
  const widths = columns.map((_, i) => Math.max(3, ...cells.map((r) => r[i].length)));
  const line = (r) =>
    `| ${r.map((v, i) => (columns[i].align === 'left' ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (columns[i].align === 'left' ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}
