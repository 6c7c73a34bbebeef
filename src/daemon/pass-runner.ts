/**
 * Runs reconcile passes one at a time. A trigger during a pass (webhook, cron tick) asks for one
 * more pass after it, never a second pass in parallel: two passes would race on the same clone.
 * A pass that throws is reported and does not stop the runner: the next trigger runs again.
 */
export class PassRunner {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Resolves when the pass this trigger asked for has finished; never rejects. */
  trigger(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          try {
            await this.pass();
          } catch (err) {
            this.onError(err);
          }
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Resolves when the pass in progress (if any) has finished; drops a pending extra pass. */
  async idle(): Promise<void> {
    this.again = false;
    await this.running;
  }
}
