/**
 * A plain model of Raft's hard state, written independently of the library so that tests compare
 * the library against it rather than against itself. No fast-check, no I/O.
 */

/** `currentTerm` and `votedFor`, as every hard-state store reports them. */
export interface HardStateValue {
  readonly currentTerm: number;
  readonly votedFor: number;
}

/** `votedFor` when no vote was cast in the current term. */
export const NO_VOTE = 0;

/** Number of distinct candidates the generated steps vote for (1..CANDIDATES). */
export const CANDIDATES = 5;

/**
 * One update, relative to the state it is applied to, so that a generated sequence stays meaningful
 * whatever happened before (crashes, failures):
 * - `term up`: a higher term (+`by`), which clears the vote;
 * - `term equal`: the current term again (changes nothing);
 * - `term down`: a lower term (-`by`), refused with ERR_TERM_REGRESSION (unless the term is 0);
 * - `vote same`: the vote already cast (or candidate 1 when none), changes nothing or votes;
 * - `vote candidate`: a given candidate: votes, changes nothing, or conflicts;
 * - `vote other`: a candidate different from the current vote: conflicts if a vote was cast;
 * - `vote none`: NONE over a vote (refused: a vote is never withdrawn), or nothing.
 */
export type UpdateStep =
  | { readonly kind: 'term'; readonly change: 'up' | 'down'; readonly by: number }
  | { readonly kind: 'term'; readonly change: 'equal' }
  | { readonly kind: 'vote'; readonly choice: 'same' | 'none' }
  | { readonly kind: 'vote'; readonly choice: 'candidate'; readonly candidate: number }
  | { readonly kind: 'vote'; readonly choice: 'other'; readonly offset: number };

/** An update with its concrete argument: `updateCurrentTerm(value)` or `updateVotedFor(value)`. */
export interface ConcreteUpdate {
  readonly kind: 'term' | 'vote';
  readonly value: number;
}

/** What a correct store does with an update. */
export type Outcome =
  | { readonly type: 'change'; readonly next: HardStateValue }
  | { readonly type: 'noop' }
  | { readonly type: 'refused'; readonly code: 'ERR_TERM_REGRESSION' | 'ERR_VOTE_CONFLICT' };

/** The concrete update `step` stands for when the store is in `state`. */
export function concretize(state: HardStateValue, step: UpdateStep): ConcreteUpdate {
  if (step.kind === 'term') {
    if (step.change === 'equal') return { kind: 'term', value: state.currentTerm };
    if (step.change === 'up') return { kind: 'term', value: state.currentTerm + step.by };
    return { kind: 'term', value: Math.max(0, state.currentTerm - step.by) };
  }
  switch (step.choice) {
    case 'same':
      return { kind: 'vote', value: state.votedFor === NO_VOTE ? 1 : state.votedFor };
    case 'none':
      return { kind: 'vote', value: NO_VOTE };
    case 'candidate':
      return { kind: 'vote', value: step.candidate };
    case 'other': {
      const from = state.votedFor === NO_VOTE ? 0 : ((state.votedFor - 1) % CANDIDATES) + 1;
      return { kind: 'vote', value: ((from - 1 + step.offset + CANDIDATES) % CANDIDATES) + 1 };
    }
  }
}

/**
 * Raft's rules: a term never goes down, a higher term clears the vote, the same term changes
 * nothing; a vote is cast once per term (the same vote again changes nothing, any other vote,
 * NONE included, is refused).
 */
export function expectedOutcome(state: HardStateValue, update: ConcreteUpdate): Outcome {
  if (update.kind === 'term') {
    if (update.value < state.currentTerm) return { type: 'refused', code: 'ERR_TERM_REGRESSION' };
    if (update.value === state.currentTerm) return { type: 'noop' };
    return { type: 'change', next: { currentTerm: update.value, votedFor: NO_VOTE } };
  }
  if (update.value === state.votedFor) return { type: 'noop' };
  if (state.votedFor !== NO_VOTE) return { type: 'refused', code: 'ERR_VOTE_CONFLICT' };
  return { type: 'change', next: { currentTerm: state.currentTerm, votedFor: update.value } };
}

function keyOf(s: HardStateValue): string {
  return `${s.currentTerm}/${s.votedFor}`;
}

export function sameState(a: HardStateValue, b: HardStateValue): boolean {
  return a.currentTerm === b.currentTerm && a.votedFor === b.votedFor;
}

export function showState(s: HardStateValue): string {
  return `(term ${s.currentTerm}, vote ${s.votedFor})`;
}

export function showUpdate(u: ConcreteUpdate): string {
  return u.kind === 'term' ? `updateCurrentTerm(${u.value})` : `updateVotedFor(${u.value})`;
}

/**
 * What the store has promised so far, and what it may still hold after a crash.
 *
 * `chain[0]` is a state known durable; every later entry was submitted after it, in order. A
 * store may come back from a crash in `chain[j]` for any `j >= acked` (the newest acknowledged
 * state, or a later submitted one), and in no other state.
 */
export class HardStateModel {
  chain: HardStateValue[];
  acked = 0;
  /** Votes that were acknowledged or loaded, by term: a second, different one is a double vote. */
  readonly votes = new Map<number, number>();
  /** Highest term acknowledged or loaded: no later load may show a lower one. */
  maxTerm = 0;
  /** The store is open (as far as the model knows). */
  open = false;
  /** The store reported an I/O failure and must refuse every update until it is reopened. */
  failed = false;

  /** `initial`: the state already on disk when the run starts (durable, as if loaded). */
  constructor(initial: HardStateValue = { currentTerm: 0, votedFor: NO_VOTE }) {
    this.chain = [initial];
    this.#observeDurable(initial);
  }

  /** The state the store holds in memory (the latest submitted one). */
  get current(): HardStateValue {
    return this.chain[this.chain.length - 1] as HardStateValue;
  }

  /** Records a submitted change; returns its index in the chain. */
  submit(next: HardStateValue): number {
    this.chain.push(next);
    return this.chain.length - 1;
  }

  /** Everything up to `index` is acknowledged as durable. */
  acknowledge(index: number): void {
    if (index <= this.acked) return;
    this.acked = index;
    const state = this.chain[index] as HardStateValue;
    this.#observeDurable(state);
  }

  /**
   * Checks a state read back from disk (after a crash or a restart) and makes it the new durable
   * baseline. Throws a descriptive error if it breaks a promise.
   */
  reload(loaded: HardStateValue, what: string): void {
    this.validate(loaded, what);
    this.#observeDurable(loaded);
    this.chain = [loaded];
    this.acked = 0;
  }

  /** Throws unless `loaded` is a state a crash may leave (see the class comment). Changes nothing. */
  validate(loaded: HardStateValue, what: string): void {
    const index = this.chain.findIndex((s, i) => i >= this.acked && sameState(s, loaded));
    if (index < 0) {
      const older =
        this.chain.findIndex((s) => sameState(s, loaded)) >= 0 || this.#seen.has(keyOf(loaded)) ? 0 : -1;
      const allowed = this.chain.slice(this.acked).map(showState).join(', ');
      throw new Error(
        `${what} returned ${showState(loaded)}, ` +
          (older >= 0
            ? `an older state than the acknowledged ${showState(this.chain[this.acked] as HardStateValue)} (lost acknowledged update)`
            : 'a state that was never submitted') +
          `; allowed: ${allowed}`,
      );
    }
    if (loaded.currentTerm < this.maxTerm) {
      throw new Error(`${what}: term went down from ${this.maxTerm} to ${loaded.currentTerm}`);
    }
    const vote = this.votes.get(loaded.currentTerm);
    if (loaded.votedFor !== NO_VOTE && vote !== undefined && vote !== loaded.votedFor) {
      throw new Error(`${what}: two votes in term ${loaded.currentTerm}: ${vote} and ${loaded.votedFor}`);
    }
  }

  /** Every state that was once durable, to tell "older" from "never submitted" in messages. */
  readonly #seen = new Set<string>(['0/0']);

  #observeDurable(state: HardStateValue): void {
    this.#seen.add(keyOf(state));
    if (state.votedFor !== NO_VOTE) {
      const earlier = this.votes.get(state.currentTerm);
      if (earlier !== undefined && earlier !== state.votedFor) {
        throw new Error(`two votes in term ${state.currentTerm}: ${earlier} and ${state.votedFor}`);
      }
      this.votes.set(state.currentTerm, state.votedFor);
    }
    if (state.currentTerm > this.maxTerm) this.maxTerm = state.currentTerm;
  }
}
