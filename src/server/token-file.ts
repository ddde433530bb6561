// The control API's bearer token, for clients on this host: written to a file only root can read
// (mode 0600, in a 0700 directory it creates), never logged. The file is replaced whole: the token
// goes to a new file created with O_EXCL and mode 0600 from its first byte, then renamed over the
// path, so no reader sees a partial token and a symbolic link planted at the path is replaced, not
// followed.
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeTokenFile(path: string, token: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  rmSync(temp, { force: true });
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${token}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(temp, 0o600); // the umask may only have removed bits; say it outright
    renameSync(temp, path);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
}

/** The token in a token file (its first line); undefined when there is no file. Other errors (EACCES) throw. */
export function readTokenFile(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const token = text.split('\n', 1)[0]?.trim();
  return token !== undefined && token !== '' ? token : undefined;
}

/** Removes the file at stop, unless another agent has written its own token there since. */
export function removeTokenFile(path: string, token: string): void {
  if (readTokenFile(path) === token) rmSync(path, { force: true });
}
