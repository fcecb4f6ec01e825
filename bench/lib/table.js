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
  const cell = (value) => String(value).replace(/\|/g, '\\|');
  const header = `| ${columns.map((c) => cell(c.title)).join(' | ')} |`;
  const rule = `|${columns.map((c) => (c.align === 'left' ? ' --- ' : ' ---: ')).join('|')}|`;
  return [header, rule, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}
