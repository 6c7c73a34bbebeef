import { instructions, startEmbedded } from '../../demo/embedded.js';
import { playStory } from '../../demo/story.js';

/** `npm start`: the embedded default, until Ctrl-C. */
export async function startCommand(): Promise<number> {
  const embedded = await startEmbedded({ httpPort: Number(process.env.REEXPORT_HTTP_PORT ?? 0) });
  process.stdout.write(instructions(embedded));
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.stdout.write('\nstopping…\n');
      void embedded.stop().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stdout.write('stopped. npm start continues where this left off.\n');
  return 0;
}

export async function demoCommand(): Promise<number> {
  await playStory();
  return 0;
}
