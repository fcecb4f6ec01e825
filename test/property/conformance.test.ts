import { describe, it } from 'vitest';
import { Metadata, MetadataManager } from '../../src/index.js';
import { runConformance } from '../../src/testing/index.js';
import { propertyTimeout } from '../fast-timers.js';

/** The library passes the conformance check it ships to users, exactly as a user would run it. */
describe('runConformance on MetadataManager', () => {
  it(
    'holds for raft-metadata itself, with Metadata.load as the read-only loader',
    async () => {
      await runConformance((dir, { fs }) => MetadataManager.open(dir, { fs, flushIntervalMs: 0 }), {
        load: (dir, { fs }) => Metadata.load(dir, { fs }),
      });
    },
    propertyTimeout(100),
  );
});
