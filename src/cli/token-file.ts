// The admin listener's token, read from a file (a mounted Secret, or `echo token > file`) for `serve` and for the
// commands that ask a running gateway: one token, no spaces or line breaks; the trailing newline is not part of it.
import { readFileSync } from 'node:fs';
import { UsageError } from './options.js';

export function readTokenFile(flag: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.replace(/[\r\n]+$/, '');
  if (token === '' || /\s/.test(token)) throw new UsageError(`${flag}: ${file} must hold one token: no spaces or line breaks, not empty`);
  return token;
}
