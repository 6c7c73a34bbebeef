/**
 * Runs reconcile passes one at a time. A trigger during a pass (webhook, cron tick) asks for one
 * more pass after it, never a second pass in parallel: two passes would race on the same clone.
 */
export class PassRunner {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly pass: () => Promise<void>) {}

  trigger(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pass();
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Resolves when the pass in progress (if any) has finished. */
  async idle(): Promise<void> {
    this.again = false;
    await this.running;
  }
}
