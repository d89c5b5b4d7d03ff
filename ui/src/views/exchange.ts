// Exchange: one sampled request and the primary's, candidate's and secondary's answers side by side, differing
// paths highlighted, JSON foldable; "copy as curl" of the redacted request; next/previous sample (n / p).
import { getJson } from '../api.js';
import { type Ctx, links, type View } from '../app.js';
import { curlFor } from '../curl.js';
import { h, ms, when } from '../dom.js';
import { bodyView, type Highlight, highlightOf, normalizePath } from '../json-tree.js';
import type { Headers, Message, Sample } from '../types.js';

const PAGE = 100;
/** Pages read back through `before` to find a deep-linked sample that is not among the newest. */
const MAX_PAGES = 10;

function headersTable(headers: Headers, hl: Highlight): HTMLElement {
  const rows = Object.entries(headers).flatMap(([name, v]) => (Array.isArray(v) ? v : [v]).map((value) => [name, value] as const));
  if (rows.length === 0) return h('p', { class: 'note' }, '(no headers)');
  return h(
    'table',
    { class: 'headers' },
    h(
      'tbody',
      {},
      rows.map(([name, value]) =>
        h('tr', { class: hl.diffs.has(`header.${name.toLowerCase()}`) ? 'diff' : undefined }, h('th', { scope: 'row' }, name), h('td', {}, value)),
      ),
    ),
  );
}

function answer(title: string, m: Message | undefined, hl: Highlight, cls: string): HTMLElement {
  if (!m) return h('section', { class: `answer ${cls}` }, h('h2', {}, title), h('p', { class: 'note' }, 'no answer recorded'));
  return h(
    'section',
    { class: `answer ${cls}`, 'aria-label': `${title}'s answer` },
    h('h2', {}, title),
    h(
      'p',
      { class: 'meta' },
      h('span', { class: hl.diffs.has('status') ? 'status diff' : 'status' }, m.status === undefined ? 'no status' : String(m.status)),
      m.latencyMs !== undefined ? ` · ${ms(m.latencyMs)}` : '',
      m.error ? h('span', { class: 'error' }, ` · ${m.error}`) : '',
    ),
    h('details', { class: 'headers-fold', open: true }, h('summary', {}, 'Headers'), headersTable(m.headers, hl)),
    h('h3', {}, 'Body'),
    bodyView(m.body, m.bodyEncoding, m.bodyTruncated, hl),
  );
}

export async function exchangeView(ctx: Ctx): Promise<View> {
  const run = ctx.route.run!;
  const endpoint = ctx.route.endpoint!;
  const wanted = ctx.route.sample;
  const field = ctx.route.params.get('field') ?? undefined;
  ctx.crumbs([
    { label: 'Runs', href: links.runs() },
    { label: `Run ${run}`, href: links.endpoints(run) },
    { label: 'Fields', href: links.fields(run, endpoint) },
    { label: field ? `Samples at ${field}` : 'Samples' },
  ]);
  const page = (before?: string) =>
    getJson<{ samples: Sample[] }>('samples', { run, endpoint, field, limit: String(PAGE), before }, ctx.signal).then((d) => d.samples);
  const samples = await page();
  let i = wanted === undefined ? 0 : samples.findIndex((s) => s.id === wanted);
  for (let n = 0; i < 0 && n < MAX_PAGES && samples.length > 0 && samples.length % PAGE === 0; n++) {
    const more = await page(samples.at(-1)!.id);
    if (more.length === 0) break;
    samples.push(...more);
    i = samples.findIndex((s) => s.id === wanted);
  }
  const s = samples[i];
  if (!s) {
    ctx.main.append(
      h('h1', {}, 'Exchange'),
      h('p', { class: 'empty' }, wanted === undefined ? 'No sample stored for this endpoint yet.' : `Sample ${wanted} is not stored (any more).`),
    );
    return {};
  }
  // The newest sample has no newer one; the oldest loaded asks the API whether an older one exists.
  const newer = samples[i - 1]?.id;
  let older = samples[i + 1]?.id;
  if (older === undefined) older = (await page(s.id).catch(() => []))[0]?.id;
  const go = (id: string | undefined) => {
    if (id !== undefined) ctx.go(links.exchange(run, endpoint, id, field));
  };
  const hl = highlightOf(s.diffs.map((d) => d.field));
  const curl = curlFor(s.request, location.host);
  const curlBox = h('pre', { class: 'curl', id: 'curl', tabindex: 0 }, curl);
  const copied = h('span', { class: 'copied', role: 'status' });
  const copy = () => {
    const done = (ok: boolean) => {
      copied.textContent = ok ? 'copied' : 'select the command below and copy it';
      if (!ok) getSelection()?.selectAllChildren(curlBox);
    };
    if (navigator.clipboard)
      navigator.clipboard.writeText(curl).then(
        () => done(true),
        () => done(false),
      );
    else done(false);
  };
  const r = s.request;
  ctx.main.append(
    h('h1', {}, 'Exchange ', h('span', { class: 'mono' }, `${r.method} ${r.path}`)),
    h(
      'div',
      { class: 'controls' },
      h('button', { type: 'button', id: 'newer', disabled: newer === undefined, onclick: () => go(newer), title: 'Previous (newer) sample (p)' }, '← Newer'),
      h('span', { class: 'position' }, `sample ${i + 1} of ${samples.length}${samples.length % PAGE === 0 ? '+' : ''}, newest first`),
      h('button', { type: 'button', id: 'older', disabled: older === undefined, onclick: () => go(older), title: 'Next (older) sample (n)' }, 'Older →'),
      h('button', { type: 'button', id: 'copy-curl', onclick: copy, title: 'Copy the redacted request as curl (c)' }, 'Copy as curl'),
      copied,
    ),
    h('p', { class: 'meta' }, `at ${when(s.at)} · request id `, h('span', { class: 'mono' }, s.requestId), field ? ` · differing at ${field}` : ''),
    curlBox,
    h('h2', {}, 'Differences'),
    s.diffs.length === 0
      ? h('p', { class: 'note' }, 'none in this sample')
      : h(
          'table',
          { class: 'grid diffs' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col' }, 'Field'),
              h('th', { scope: 'col' }, 'Kind'),
              h('th', { scope: 'col' }, 'Primary'),
              h('th', { scope: 'col' }, 'Candidate'),
            ),
          ),
          h(
            'tbody',
            {},
            s.diffs.map((d) =>
              h(
                'tr',
                { class: field && normalizePath(field) === normalizePath(d.field) ? 'current' : undefined },
                h('td', { class: 'mono' }, d.field),
                h('td', {}, d.kind),
                h('td', {}, h('code', { class: 'was' }, d.primary ?? '—')),
                h('td', {}, h('code', { class: 'now' }, d.candidate ?? '—')),
              ),
            ),
          ),
        ),
    h(
      'section',
      { class: 'request', 'aria-label': 'Request' },
      h('h2', {}, 'Request'),
      h('p', { class: 'meta mono' }, `${r.method} ${r.path}${r.query ? `?${r.query.replace(/^\?/, '')}` : ''}`),
      h('details', { class: 'headers-fold', open: true }, h('summary', {}, 'Headers'), headersTable(r.headers, { diffs: new Set(), open: new Set() })),
      h('h3', {}, 'Body'),
      bodyView(r.body, r.bodyEncoding, r.bodyTruncated, { diffs: new Set(), open: new Set() }),
    ),
    h(
      'div',
      { class: 'answers' },
      answer('Primary', s.primary, hl, 'primary'),
      answer('Candidate', s.candidate, hl, 'candidate'),
      s.secondary ? answer('Secondary', s.secondary, hl, 'secondary') : null,
    ),
  );
  return {
    onKey: (e) => {
      if (e.key === 'n') go(older);
      else if (e.key === 'p') go(newer);
      else if (e.key === 'c') copy();
      else return false;
      return true;
    },
  };
}
