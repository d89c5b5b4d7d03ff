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
  /** As `issue`, valid only between two dates (`YYYYMMDDHHMMSSZ`): an expired certificate, or one not valid yet. */
  issueBetween(name: string, cn: string, sans: string[], start: string, end: string): void;
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
    issueBetween(name, cn, sans, start, end) {
      // `x509 -days` takes no dates in the past: `openssl ca` does, with a throw-away database.
      openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
      const ext = sans.length > 0 ? `subjectAltName=${sans.join(',')}\n` : '';
      writeFileSync(join(dir, `${name}.ext`), ext);
      writeFileSync(join(dir, `${name}.index`), '');
      writeFileSync(
        join(dir, `${name}.cnf`),
        `[ca]\ndefault_ca = d\n[d]\ndatabase = ${name}.index\nnew_certs_dir = .\nserial = ${name}.serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n`,
      );
      writeFileSync(join(dir, `${name}.serial`), `${Date.now().toString(16).padStart(16, '0')}\n`);
      const args = ['ca', '-batch', '-notext', '-config', `${name}.cnf`, '-in', `${name}.csr`, '-out', `${name}.crt`, '-cert', 'ca.crt', '-keyfile', 'ca.key'];
      openssl(dir, [...args, '-startdate', start, '-enddate', end, ...(ext ? ['-extfile', `${name}.ext`] : [])]);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
