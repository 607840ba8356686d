/**
 * Bounded automatic restarts of a crashing server: at most `maxRestarts` restarts within any sliding
 * window of `windowMs` milliseconds. Time is passed in, so the policy is deterministic under test.
 */
export class RestartBudget {
  private readonly restarts: number[] = [];

  /**
   * @param maxRestarts - restarts allowed inside one window (>= 0).
   * @param windowMs - length of the sliding window, in milliseconds.
   */
  constructor(
    private readonly maxRestarts: number,
    private readonly windowMs: number,
  ) {}

  /**
   * Records a crash at `nowMs` (milliseconds, any monotonic clock) and says whether to restart.
   * A refused restart is not recorded, so the budget refills as old restarts leave the window.
   */
  tryRestart(nowMs: number): boolean {
    while (this.restarts.length > 0 && nowMs - (this.restarts[0] ?? 0) >= this.windowMs) this.restarts.shift();
    if (this.restarts.length >= this.maxRestarts) return false;
    this.restarts.push(nowMs);
    return true;
  }

  /** Forgets every recorded restart (after a manual restart by the user). */
  reset(): void {
    this.restarts.length = 0;
  }
}
