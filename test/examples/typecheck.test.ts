// The JavaScript examples are checked as TypeScript would check a consumer's `// @ts-check` file:
// strict, against this repository's types and those of prom-client and OpenTelemetry.
import { describe, expect, it } from 'vitest';
import { typeCheck } from './typecheck.js';

const examples = ['examples/metrics-prometheus.js', 'examples/metrics-opentelemetry.js'];

describe('examples type-check', () => {
  it('the metrics examples have no type errors, and a wrong field would be one', () => {
    const messages = typeCheck(
      {
        '__wrong-field.js': [
          "import { CHANNELS, subscribeChannel } from 'raft-metadata';",
          'subscribeChannel(CHANNELS.failure, (event) => event.records);',
        ].join('\n'),
      },
      examples,
    );
    expect(messages).toEqual({
      ...Object.fromEntries(examples.map((path) => [path, []])),
      '__wrong-field.js': [expect.stringMatching(/'records' does not exist on type 'FailureEvent'/)],
    });
  });
});
