import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { keyIdOf } from '../../lifecycle/signing.js';
import { ConfigError } from '../../shared/errors.js';

export interface SigningKeys {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicPem: string;
  keyId: string;
  /** Public keys whose records this daemon trusts: its own, and the operator's extra ones. */
  trusted: KeyObject[];
}

/**
 * The daemon's signing key: from the operator's file (a Secret) when configured, otherwise made
 * once in the workdir and kept there, like an SSH host key. The private key is never logged.
 */
export async function loadSigningKeys(opts: {
  keyFile?: string;
  workdir: string;
  trustedPublicKeyFiles?: string[];
  onCreated?: (info: { file: string; keyId: string; publicPem: string }) => void;
}): Promise<SigningKeys> {
  let privateKey: KeyObject;
  if (opts.keyFile) {
    const pem = await readFile(opts.keyFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw keyError(opts.keyFile!, `cannot be read (${err.code ?? err.message})`);
    });
    privateKey = parsePrivate(pem, opts.keyFile);
  } else {
    const file = path.join(opts.workdir, 'signing-key.pem');
    const pem = await readFile(file, 'utf8').catch(() => undefined);
    if (pem) privateKey = parsePrivate(pem, file);
    else {
      await mkdir(opts.workdir, { recursive: true });
      const pair = generateKeyPairSync('ed25519');
      privateKey = pair.privateKey;
      const text = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      // wx: two processes starting at once must not both write a key (the second reads the first's).
      await writeFile(file, text, { mode: 0o600, flag: 'wx' }).catch(async () => {
        privateKey = parsePrivate(await readFile(file, 'utf8'), file);
      });
      const pub = createPublicKey(privateKey);
      opts.onCreated?.({
        file,
        keyId: keyIdOf(pub),
        publicPem: pub.export({ type: 'spki', format: 'pem' }).toString(),
      });
    }
  }
  const publicKey = createPublicKey(privateKey);
  const trusted = [publicKey];
  for (const f of opts.trustedPublicKeyFiles ?? []) {
    const pem = await readFile(f, 'utf8').catch(() => {
      throw keyError(f, 'cannot be read');
    });
    trusted.push(createPublicKey(pem));
  }
  return {
    privateKey,
    publicKey,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
    trusted,
  };
}

function parsePrivate(pem: string, file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw keyError(file, 'is not a PEM private key');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw keyError(file, `holds a ${String(key.asymmetricKeyType)} key; the daemon signs with Ed25519`);
  }
  return key;
}

function keyError(file: string, what: string): ConfigError {
  return new ConfigError([
    {
      file,
      line: 1,
      col: 1,
      message: `signing key ${what}; make one with \`openssl genpkey -algorithm ed25519 -out ${path.basename(file)}\``,
    },
  ]);
}
