// Test harness: a throw-away CA and certificates made by `openssl` at test time (P-256 keys, valid two days).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why the TLS tests cannot run here (no openssl), or undefined when they can. */
export function opensslMissing(): string | undefined {
  const r = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'openssl is not installed: the TLS tests need it to make certificates';
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

export interface Certs {
  dir: string;
  /** Absolute path of `<name>.crt` / `<name>.key` made by `issue`, and `ca.crt`. */
  path(file: string): string;
  /** A certificate for `sans` (`DNS:x`, `IP:y`) signed by the CA, as `<name>.crt` and `<name>.key`. */
  issue(name: string, cn: string, sans: string[]): void;
  remove(): void;
}

export function makeCa(): Certs {
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-certs-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=shadowgate-test-ca']);
  return {
    dir,
    path: (file) => join(dir, file),
    issue(name, cn, sans) {
      openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
      writeFileSync(join(dir, `${name}.ext`), sans.length > 0 ? `subjectAltName=${sans.join(',')}\n` : '');
      openssl(dir, [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
      ]);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
