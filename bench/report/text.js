/** The report as plain-text tables, for stdout. */
import { textTable } from './table.js';

export function renderText({ sections, header }) {
  const out = [...header, ''];
  for (const s of sections) {
    out.push(s.title, textTable(s.columns, s.rows));
    if (s.note) out.push(s.note);
    out.push('');
  }
  return out.join('\n');
}
