// A sortable table whose rows are focusable and open on Enter or click; rows keep a stable key so a refresh
// can put the focus back where it was.
import { type Child, h } from './dom.js';

export interface Column<T> {
  key: string;
  label: string;
  /** What the column sorts by. */
  value: (row: T) => number | string;
  cell: (row: T) => Child;
  numeric?: boolean;
  title?: string;
}

export interface TableOptions<T> {
  caption: string;
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  sort?: string | undefined;
  dir?: 'asc' | 'desc' | undefined;
  onSort?: (key: string, dir: 'asc' | 'desc') => void;
  onOpen?: (row: T) => void;
  rowClass?: (row: T) => string | undefined;
  empty?: string;
}

export function sortRows<T>(rows: T[], columns: Column<T>[], sort: string | undefined, dir: 'asc' | 'desc' | undefined): T[] {
  const col = columns.find((c) => c.key === sort);
  if (!col) return rows;
  const sign = dir === 'desc' ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = col.value(a);
    const y = col.value(b);
    return sign * (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y)));
  });
}

export function table<T>(o: TableOptions<T>): HTMLTableElement {
  const rows = sortRows(o.rows, o.columns, o.sort, o.dir);
  const head = h(
    'tr',
    {},
    o.columns.map((c) => {
      const active = c.key === o.sort;
      const sortState = active ? (o.dir === 'desc' ? 'descending' : 'ascending') : 'none';
      const label = o.onSort
        ? h(
            'button',
            {
              type: 'button',
              class: 'sort',
              'data-sort': c.key,
              onclick: () => o.onSort?.(c.key, active && o.dir !== 'desc' ? 'desc' : 'asc'),
            },
            c.label,
            h('span', { class: 'arrow', 'aria-hidden': 'true' }, active ? (o.dir === 'desc' ? '▼' : '▲') : ''),
          )
        : c.label;
      return h('th', { scope: 'col', class: c.numeric ? 'num' : undefined, 'aria-sort': o.onSort ? sortState : undefined, title: c.title }, label);
    }),
  );
  const body = h(
    'tbody',
    {},
    rows.length === 0
      ? h('tr', {}, h('td', { colspan: o.columns.length, class: 'empty' }, o.empty ?? 'Nothing yet.'))
      : rows.map((r) =>
          h(
            'tr',
            {
              tabindex: o.onOpen ? 0 : undefined,
              class: ['row', o.onOpen ? 'openable' : '', o.rowClass?.(r) ?? ''].join(' ').trim(),
              'data-key': o.rowKey(r),
              onclick: o.onOpen ? () => o.onOpen?.(r) : undefined,
              onkeydown: o.onOpen
                ? (e: Event) => {
                    if ((e as KeyboardEvent).key === 'Enter') o.onOpen?.(r);
                  }
                : undefined,
            },
            o.columns.map((c) => h('td', { class: c.numeric ? 'num' : undefined }, c.cell(r))),
          ),
        ),
  );
  return h('table', { class: 'grid' }, h('caption', {}, o.caption), h('thead', {}, head), body);
}
