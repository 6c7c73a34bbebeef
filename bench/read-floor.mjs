/**
 * The floor under a preview's time: a Node process that does only the directory read a preview
 * does (the daemon config, the one paged search of the scope over the bulk client, each page
 * decoded into entries) and nothing after it: no source, no planning, no reports. What this
 * takes beside ldapsearch is the part of the preview's ratio that the read alone costs in Node;
 * the rest of the preview must fit in what is left.
 *
 *   node bench/read-floor.mjs <dist> <daemon.yaml> <target> <baseDN> <matchAttribute> <attributes,…>
 *
 * `<dist>`: the compiled sources (the same build the bench's preview runs). Prints the number of
 * entries read.
 */
/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call,
   @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument --
   the modules are loaded by path from a build given on the command line, so they have no types */
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const [dist, config, target, baseDN, matchAttribute, attributes] = process.argv.slice(2);
if (!dist || !config || !target || !baseDN || !matchAttribute || !attributes)
  throw new Error(
    'usage: read-floor.mjs <dist> <daemon.yaml> <target> <baseDN> <matchAttribute> <attributes,…>',
  );
const load = (file) => import(pathToFileURL(path.join(dist, file)).href);
const [{ loadDaemonConfig }, { connectionSettings }, { readScope }] = await Promise.all([
  load('config/daemon-config.js'),
  load('adapters/ldap/connection.js'),
  load('adapters/ldap/scope-read.js'),
]);
const loaded = await loadDaemonConfig(config);
const settings = await connectionSettings(loaded.config.targets[target], `target ${target}`);
const query = { target, baseDN, scope: 'sub', matchAttribute, attributes: attributes.split(',') };
let entries = 0;
for await (const page of readScope(settings, query)) entries += page.length;
process.stdout.write(`${entries}\n`);
