import { onLogLine } from '../../shared/log.js';

/**
 * A one-line progress display on a terminal, shown only once an operation has run a few seconds;
 * silent when stderr is not a TTY (CI logs and pipes get the logs only). A log line clears it
 * first, so the two never share a line.
 */
export function progress(label: string, stream: NodeJS.WriteStream = process.stderr, delayMs = 2000) {
  const started = Date.now();
  let shown = false;
  let last = 0;
  const clear = () => {
    if (shown) stream.write('\r\x1b[2K');
  };
  if (stream.isTTY) onLogLine(clear);
  return {
    update(count: number, total?: number) {
      if (!stream.isTTY) return;
      const now = Date.now();
      if (now - started < delayMs || now - last < 200) return;
      last = now;
      shown = true;
      const rate = Math.round(count / ((now - started) / 1000));
      stream.write(
        `\r\x1b[2K${label}: ${count.toLocaleString('en-US')}${total ? ` of ${total.toLocaleString('en-US')}` : ''} (${rate.toLocaleString('en-US')}/s)`,
      );
    },
    done() {
      if (stream.isTTY) onLogLine(undefined);
      if (shown) stream.write('\n');
    },
  };
}
