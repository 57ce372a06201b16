/**
 * Long synchronous work (lint and index 100k rules) written as a generator that pauses with a
 * bare `yield` between slices, run either at once or letting the event loop run at each pause,
 * so that a reload never holds requests up for the seconds the whole takes.
 */

/**
 * How many rules a policy stage handles between two pauses (`if ((i & STEP_MASK) === STEP_MASK)
 * yield`): at the slowest stage's ~15 µs a rule (warm), a few ms a slice.
 */
export const STEP_RULES = 256
export const STEP_MASK = STEP_RULES - 1

/** Lets the event loop run (timers, sockets) before the next slice. */
export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Runs `steps` to its end without pausing; returns what it returns. */
export function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next()
    if (step.done) return step.value
  }
}

/** Runs `steps` to its end, letting the event loop run at each of its pauses. */
export async function runStepsAsync<T>(steps: Generator<void, T>): Promise<T> {
  for (;;) {
    const step = steps.next()
    if (step.done) return step.value
    await turn()
  }
}
