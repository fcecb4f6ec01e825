// The JavaScript examples are checked as TypeScript would check a consumer's `// @ts-check` file:
// strict, against this repository's types and those of prom-client and OpenTelemetry.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, typeCheck } from './typecheck.js';

const examples = ['examples/metrics-prometheus.js', 'examples/metrics-opentelemetry.js'];

/** The README's Usage blocks, with the names they take from the reader's code declared. */
function readmeUsage(): Record<string, string> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const usage = readme.slice(readme.indexOf('\n## Usage\n'), readme.indexOf('\n## API in short\n'));
  const blocks = [...usage.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  const free = [
    'declare const term: number;',
    'declare const candidateId: number;',
    'declare const dir: string;',
    'declare const isNewNode: boolean;',
    "declare const identity: import('raft-metadata').NodeIdentity;",
    'declare const requests: { group: number; term: number }[];',
    '',
  ].join('\n');
  return Object.fromEntries(blocks.map((code, i) => [`__readme-usage-${i}.ts`, `${code}${free}`]));
}

describe('examples type-check', () => {
  it("the metrics examples and the README's usage have no type errors, and a wrong field would be one", () => {
    const usage = readmeUsage();
    expect(Object.keys(usage)).toHaveLength(3); // open(), the constructor form, MetadataStore
    const messages = typeCheck(
      {
        ...usage,
        '__wrong-field.js': [
          "import { CHANNELS, subscribeChannel } from 'raft-metadata';",
          'subscribeChannel(CHANNELS.failure, (event) => event.records);',
        ].join('\n'),
      },
      examples,
    );
    expect(messages).toEqual({
      ...Object.fromEntries([...examples, ...Object.keys(usage)].map((path) => [path, []])),
      '__wrong-field.js': [expect.stringMatching(/'records' does not exist on type 'FailureEvent'/)],
    });
  });
});
