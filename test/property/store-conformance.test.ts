import { describe, it } from 'vitest';
import { type FileSystem, Metadata, MetadataStore } from '../../src/index.js';
import { type HardStateStore, type HardStateValue, runConformance } from '../../src/testing/index.js';
import { propertyTimeout } from '../fast-timers.js';

/**
 * The conformance check the library ships, run against one group of a MetadataStore (a
 * `RaftGroup` handle, with `sync()` and `close()` of its store), exactly as a user of the store would
 * run it: the checks are those of docs/testing.md, for group 7. Its neighbours 6 and 8 are updated in
 * the same batches (every call on group 7 also updates them, not awaited), with terms of their own
 * (from 1,000,000 up) that group 7 never reaches: a record of a neighbour replayed into group 7, or
 * a batch that loses group 7's record and keeps a neighbour's, fails the run.
 */

const GROUP = 7;
const NEIGHBOURS = [6, 8];
/** Terms of the neighbours: far above anything the conformance model submits for group 7. */
const NEIGHBOUR_TERMS = 1_000_000;

/** A HardStateStore over `store.group(id)`: get/update go to the handle, sync/close to the store. */
function groupStore(store: MetadataStore, id: number, neighbours: readonly number[]): HardStateStore {
  const group = store.group(id);
  let next = NEIGHBOUR_TERMS;
  /** Neighbour traffic in the same tick as group 7's call: one batch, one fdatasync. */
  const noise = (): void => {
    next++;
    for (const n of neighbours)
      store
        .group(n)
        .updateCurrentTerm(next + n)
        .catch(() => {});
  };
  return {
    get: () => group.get(),
    updateCurrentTerm: (term) => {
      const call = group.updateCurrentTerm(term);
      noise();
      return call;
    },
    updateVotedFor: (serverId) => {
      const call = group.updateVotedFor(serverId);
      noise();
      return call;
    },
    sync: () => store.sync(),
    close: () => store.close(),
  };
}

/**
 * Reads group 7 read-only twice: `Metadata.load(dir, { group })`, and its entry in
 * `MetadataStore.load(dir)` (present exactly when the group is live), which must agree.
 */
async function loadGroup(dir: string, fs: FileSystem): Promise<HardStateValue> {
  const one = await Metadata.load(dir, { fs, group: GROUP });
  const all = await MetadataStore.load(dir, { fs });
  const entry = all.get(GROUP);
  // The conformance model never removes group 7: it is live exactly when it left (term 0, no vote).
  const live = one.currentTerm !== 0 || one.votedFor !== 0;
  if (live !== (entry !== undefined)) {
    throw new Error(
      `Metadata.load({ group: ${GROUP} }) gave (${one.currentTerm}, ${one.votedFor}), MetadataStore.load ${entry === undefined ? 'has no such group' : 'lists it'}`,
    );
  }
  if (entry && (entry.currentTerm !== one.currentTerm || entry.votedFor !== one.votedFor)) {
    throw new Error(
      `Metadata.load({ group: ${GROUP} }) gave (${one.currentTerm}, ${one.votedFor}), MetadataStore.load (${entry.currentTerm}, ${entry.votedFor})`,
    );
  }
  for (const n of NEIGHBOURS) {
    const neighbour = all.get(n);
    if (neighbour && neighbour.currentTerm <= NEIGHBOUR_TERMS) {
      throw new Error(`neighbour group ${n} holds term ${neighbour.currentTerm}, which only group 7 used`);
    }
  }
  return { currentTerm: one.currentTerm, votedFor: one.votedFor };
}

describe('runConformance on a group of a MetadataStore', () => {
  it(
    'holds for store.group(7), its neighbours updated in the same batches',
    async () => {
      await runConformance(
        async (dir, { fs }) =>
          groupStore(await MetadataStore.open(dir, { fs, flushIntervalMs: 0 }), GROUP, NEIGHBOURS),
        { load: (dir, { fs }) => loadGroup(dir, fs) },
      );
    },
    propertyTimeout(100),
  );

  it(
    "holds for docs/testing.md's example: store.group(7) wrapped with its store's sync and close",
    async () => {
      // Verbatim from docs/testing.md ("A group of a MetadataStore"), but for the import paths.
      await runConformance(
        async (dir, { fs }) => {
          const store = await MetadataStore.open(dir, { fs });
          const group = store.group(7);
          return {
            get: () => group.get(),
            updateCurrentTerm: (term) => group.updateCurrentTerm(term),
            updateVotedFor: (serverId) => group.updateVotedFor(serverId),
            sync: () => store.sync(),
            close: () => store.close(),
          };
        },
        { load: (dir, { fs }) => Metadata.load(dir, { fs, group: 7 }) },
      );
    },
    propertyTimeout(100),
  );
});
