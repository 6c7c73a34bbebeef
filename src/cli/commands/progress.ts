/**
 * A one-line progress display on a terminal, shown only once an operation has run a few seconds;
 * silent when stderr is not a TTY (CI logs and pipes get the JSON logs instead).
 */
export function progress(label: string, stream: NodeJS.WriteStream = process.stderr, delayMs = 2000) {
  const started = Date.now();
  let shown = false;
  let last = 0;
  return {
    update(count: number, total?: number) {
      if (!stream.isTTY) return;
      const now = Date.now();
      if (now - started < delayMs || now - last < 200) return;
      last = now;
      shown = true;
      const rate = Math.round(count / ((now - started) / 1000));
      stream.write(
        `\r${label}: ${count.toLocaleString('en-US')}${total ? ` of ${total.toLocaleString('en-US')}` : ''} (${rate.toLocaleString('en-US')}/s)   `,
      );
    },
    done() {
      if (shown) stream.write('\n');
    },
  };
}
