// DOM helpers. Every piece of data reaches the page as text (textContent), never as
// markup, so nothing the API returns can inject script or style.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// table builds an accessible table: a caption, column headers, one row per item.
export function table(caption, columns, rows, rowAttrs = () => ({})) {
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
      h('tbody', {}, rows.length === 0
        ? h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, 'None.'))
        : rows.map((r) => h('tr', rowAttrs(r), columns.map((c) => h('td', { 'data-label': c.label }, c.cell(r))))))));
}

export function section(title, ...children) {
  const id = 'h-' + title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

export function field(label, input, hint) {
  const id = input.id || ('f-' + Math.random().toString(36).slice(2));
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('span', { class: 'hint' }, hint) : null);
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/:00Z$/, 'Z');
}

export function day(iso) {
  return iso ? String(iso).slice(0, 10) : '—';
}

// problemView shows a refusal as the API worded it, with its code.
export function problemView(err) {
  const p = err && err.problem;
  return h('div', { class: 'problem', role: 'alert' },
    h('strong', {}, p ? `${p.status} ${p.code || ''}` : 'Error'), ' ',
    p ? (p.detail || p.title || '') : String(err && err.message ? err.message : err),
    p && p.field ? h('span', { class: 'hint' }, ` (field ${p.field})`) : null);
}

let statusTimer;
export function announce(text) {
  const s = document.getElementById('status');
  if (!s) return;
  s.textContent = text;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { s.textContent = ''; }, 6000);
}

// pageReady marks the instant a page's data is on screen, on the performance timeline,
// next to the browser's own first-contentful-paint.
export function pageReady(name) {
  if (currentPage() !== name) return; // a page the reader has already left
  try { performance.mark(`console:ready:${name}`); } catch { /* a second mark is fine */ }
  document.body.dataset.ready = name;
}

const pageNames = ['dashboard', 'timeline', 'ops', 'api'];

// currentPage is the page the address names (#/timeline/1234567: timeline).
export function currentPage() {
  const name = (location.hash || '#/').split('/')[1] || '';
  return pageNames.includes(name) ? name : 'dashboard';
}
