/** Writing a results file: a temp file renamed over the old one, so that a reader never sees half of it. */
import * as fsp from 'node:fs/promises';

export async function writeAtomically(path, content) {
  const temp = `${path}.tmp`;
  await fsp.writeFile(temp, content);
  await fsp.rename(temp, path);
}
