import { expect } from 'vitest';
import type { CommandContext } from '../../src/domain/actor.js';
import { stamp, type Event, type Stamped } from '../../src/domain/event.js';

type Decider<C, E extends Event, S> = Readonly<{
  decide: (command: C, state: S, context: CommandContext) => E[];
  evolve: (state: S, event: Stamped<E>) => S;
  initialState: () => S;
}>;

/**
 * Given/when/then for pure deciders:
 * `given([taskCreated]).when(completeTask).then([taskStatusChanged])`.
 */
export const deciderSpec =
  <C, E extends Event, S>(decider: Decider<C, E, S>, defaultContext: CommandContext) =>
  (givenEvents: readonly E[], at = defaultContext.now) => {
    const state = givenEvents.reduce((s, e) => decider.evolve(s, stamp(e, at)), decider.initialState());
    return {
      state,
      when: (command: C, context: Partial<CommandContext> = {}) => {
        const run = () => decider.decide(command, state, { ...defaultContext, ...context });
        return {
          then: (expected: readonly E[]) => expect(run()).toEqual(expected),
          thenNothingHappens: () => expect(run()).toEqual([]),
          thenThrows: (errorClass: new (...args: never[]) => Error, code?: string) => {
            let thrown: unknown;
            try {
              run();
            } catch (error) {
              thrown = error;
            }
            expect(thrown).toBeInstanceOf(errorClass);
            if (code) expect((thrown as { code?: string }).code).toBe(code);
          },
        };
      },
    };
  };
