// API reference rendered from /openapi.json, the document built from the same route
// table that registers the routes: what it lists is what the server answers.
import { h, field, problemView, pageReady } from './ui.js';
import { get } from './api.js';

export async function render(main) {
  let doc;
  try {
    doc = (await get('/openapi.json')).data;
  } catch (err) {
    main.append(problemView(err));
    return;
  }
  const filter = h('input', { id: 'api-filter', type: 'search', autocomplete: 'off' });
  const list = h('div', { class: 'operations' });
  const ops = operations(doc);
  const draw = () => {
    const f = filter.value.trim().toLowerCase();
    list.replaceChildren(...ops.filter((o) => !f || `${o.method} ${o.path} ${o.op.summary || ''}`.toLowerCase().includes(f)).map((o) => operation(doc, o)));
  };
  filter.addEventListener('input', draw);
  main.append(h('p', {}, `${doc.info?.title || 'API'} ${doc.info?.version || ''} · OpenAPI ${doc.openapi} · `, h('a', { href: '/openapi.json' }, 'the document itself')),
    field('Filter routes', filter), list);
  draw();
  pageReady('api');
}

function operations(doc) {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths || {}).sort(([a], [b]) => a.localeCompare(b))) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      if (item[method]) out.push({ method: method.toUpperCase(), path, op: item[method], shared: item.parameters || [] });
    }
  }
  return out;
}

function operation(doc, { method, path, op, shared }) {
  const params = [...shared, ...(op.parameters || [])].map((p) => resolve(doc, p));
  const body = op.requestBody?.content?.['application/json']?.schema;
  return h('details', { class: 'operation' },
    h('summary', {}, h('span', { class: `method m-${method.toLowerCase()}` }, method), ' ', h('code', {}, path), ' ', h('span', { class: 'hint' }, op.summary || '')),
    op.description ? h('p', {}, op.description) : null,
    op.security && op.security.length === 0 ? h('p', { class: 'hint' }, 'No token needed.') : null,
    params.length ? h('div', {}, h('h3', {}, 'Parameters'), h('ul', {}, params.map((p) => h('li', {},
      h('code', {}, p.name), ` (${p.in}${p.required ? ', required' : ''}${p.schema ? `, ${typeName(doc, p.schema)}` : ''}) `, p.description || '')))) : null,
    body ? h('div', {}, h('h3', {}, 'Request body'), schemaView(doc, body, 0)) : null,
    h('h3', {}, 'Responses'),
    h('ul', {}, Object.entries(op.responses || {}).map(([code, r]) => {
      const res = resolve(doc, r);
      const s = res.content && Object.values(res.content)[0]?.schema;
      return h('li', {}, h('strong', {}, code), ' ', res.description || '', s ? schemaView(doc, s, 0) : null);
    })));
}

function resolve(doc, x) {
  let v = x;
  for (let i = 0; v && v.$ref && i < 10; i++) {
    v = v.$ref.replace(/^#\//, '').split('/').reduce((o, k) => (o ? o[k.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), doc);
  }
  return v || {};
}

function typeName(doc, s) {
  if (s.$ref) return s.$ref.split('/').pop();
  if (s.type === 'array') return `${typeName(doc, s.items || {})}[]`;
  const t = Array.isArray(s.type) ? s.type.join('|') : (s.type || 'any');
  return [t, s.format, s.enum ? `one of ${s.enum.join(', ')}` : '', s.maxLength ? `max ${s.maxLength}` : ''].filter(Boolean).join(', ');
}

// schemaView shows an object's fields two levels deep; deeper shapes are named.
function schemaView(doc, s, depth) {
  const r = resolve(doc, s);
  const name = s.$ref ? s.$ref.split('/').pop() : '';
  const props = r.properties || (r.type === 'array' && resolve(doc, r.items || {}).properties);
  if (!props || depth > 1) return h('code', { class: 'schema' }, name || typeName(doc, r));
  const required = new Set(r.required || []);
  return h('div', { class: 'schema' }, name ? h('code', {}, name) : null,
    h('ul', {}, Object.entries(props).map(([k, v]) => h('li', {}, h('code', {}, k), required.has(k) ? ' (required)' : '', ': ',
      typeName(doc, v), v.description ? ` · ${v.description}` : '', depth < 1 && (v.$ref || v.items?.$ref) ? schemaView(doc, v.$ref ? v : v.items, depth + 1) : null))));
}
