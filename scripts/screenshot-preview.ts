/**
 * `npm run docs:screenshot`: docs/images/preview.png, a real preview as a reviewer sees it on the
 * forge. Previews config-example's new-mail-domain request against the embedded demo directory
 * (the same seed as `npm start`), renders preview.md to HTML the way a forge does, and takes a
 * screenshot with the system's Chromium (Debian: apt-get install chromium fonts-noto-color-emoji).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { openTargetReader } from '../src/adapters/ldap/readers.js';
import { loadDaemonConfig } from '../src/config/daemon-config.js';
import { startDemoDirectory } from '../src/demo/demo-directory.js';
import { demoEntries } from '../src/demo/demo-seed.js';
import {
  CONFIG_EXAMPLE,
  DEMO_BIND_DN,
  DEMO_SUFFIX,
  demoDaemonConfig,
  demoPassword,
} from '../src/demo/setup.js';
import { renderPreviewFiles } from '../src/report/write-reports.js';
import { createLogger } from '../src/shared/log.js';
import { previewRequest } from '../src/workflows/preview.js';
import { previewHtml } from './preview-html.js';

const REQUEST = '2026-11-25-new-mail-domain';
const OUT_DIR = fileURLToPath(new URL('../docs/images/', import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** Wide enough for a diff line without wrapping, tall enough for the summary and two users. */
const WINDOW = '1000,2060';

async function previewMarkdown(work: string): Promise<string> {
  const directory = await startDemoDirectory({
    port: 0,
    suffix: DEMO_SUFFIX,
    bindDN: DEMO_BIND_DN,
    password: demoPassword(),
    entries: demoEntries(DEMO_SUFFIX),
  });
  try {
    const configFile = path.join(work, 'daemon.yaml');
    await writeFile(
      configFile,
      demoDaemonConfig({
        repoUrl: CONFIG_EXAMPLE,
        workdir: path.join(work, 'var'),
        directoryUrl: directory.url,
        httpPort: 0,
        schedule: '0 0 1 1 *',
      }),
    );
    const daemon = await loadDaemonConfig(configFile);
    const log = createLogger('silent');
    const result = await previewRequest(CONFIG_EXAMPLE, REQUEST, daemon, {
      openTarget: (target) => openTargetReader(daemon, target, log),
    });
    if ('invalid' in result) throw new Error(`${REQUEST} could not be previewed: ${JSON.stringify(result)}`);
    return renderPreviewFiles(result.plan, daemon.config.preview.maxUsersInMarkdown)['preview.md']!;
  } finally {
    await directory.stop();
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'reexport-screenshot-'));
  try {
    const md = await previewMarkdown(work);
    const page = path.join(work, 'preview.html');
    await writeFile(page, previewHtml(md, `reports/${REQUEST}/preview.md`));
    await mkdir(OUT_DIR, { recursive: true });
    const png = path.join(OUT_DIR, 'preview.png');
    await promisify(execFile)(CHROMIUM, [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--hide-scrollbars',
      '--force-device-scale-factor=1',
      `--user-data-dir=${path.join(work, 'chromium')}`,
      `--screenshot=${png}`,
      `--window-size=${WINDOW}`,
      pathToFileURL(page).href,
    ]);
    process.stdout.write(`wrote ${png}\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
