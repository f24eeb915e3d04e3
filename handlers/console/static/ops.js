// Ops control room: every read model with checkpoint, head and lag, its state and dead
// letters (inspected, retried or discarded with a reason); a rebuild started and watched, with its diff; the rules versions side by
// side with their differences, and a new version previewed before it is published.
import { h, table, section, field, when, problemView, announce, pageReady } from './ui.js';
import { get, post, q, enc } from './api.js';
import { follow, statusView } from './rebuild.js';

const POLL_MS = 2000;

export async function render(main) {
  const ops = new ControlRoom();
  main.append(ops.projectionsSection(), ops.letters.section(), ops.rebuildSection(), ops.rulesSection());
  await Promise.all([ops.refresh(), ops.loadRules()]);
  await ops.letters.load();
  pageReady('ops');
  return ops.startPolling();
}

class ControlRoom {
  constructor() {
    this.list = h('div');
    this.names = h('select', { id: 'rebuild-name', required: true });
    this.report = h('div', { id: 'rebuild-report', 'aria-live': 'polite' });
    this.rules = h('div');
    this.letters = new DeadLetters(() => this.refresh());
  }

  projectionsSection() {
    return section('Read models', this.list);
  }

  async refresh() {
    try {
      const list = (await get('/v1/ops/projections')).data.projections;
      this.list.replaceChildren(table('Read models', [
        { label: 'Read model', cell: (p) => p.name },
        { label: 'Version', cell: (p) => (p.version === p.codeVersion ? `v${p.version}` : `v${p.version} (code v${p.codeVersion}: rebuild)`) },
        { label: 'Generation', cell: (p) => p.generation },
        { label: 'Checkpoint', cell: (p) => p.checkpoint },
        { label: 'Head', cell: (p) => p.head },
        { label: 'Lag', cell: (p) => `${p.lagEvents} events · ${Number(p.lagSeconds).toFixed(1)} s` },
        { label: 'State', cell: (p) => h('span', { class: `state-${p.state}` }, p.state, p.error ? `: ${p.error}` : '') },
        { label: 'Dead letters', cell: (p) => p.deadLetters },
        { label: 'Partitions', cell: (p) => partitionsCell(p.partitions || []) },
        { label: 'Last rebuild', cell: (p) => rebuildCell(p) },
      ], list));
      if (this.names.options.length === 0) {
        this.names.append(...list.map((p) => h('option', { value: p.name }, p.name)));
      }
      this.letters.offer(list);
    } catch (err) {
      this.list.replaceChildren(problemView(err));
    }
  }

  startPolling() {
    let stopped = false;
    let timer;
    const tick = async () => {
      if (stopped) return;
      if (!document.hidden) await this.refresh();
      if (!stopped) timer = setTimeout(tick, POLL_MS);
    };
    timer = setTimeout(tick, POLL_MS);
    return () => { stopped = true; clearTimeout(timer); this.following?.abort(); };
  }

  rebuildSection() {
    const dry = h('input', { type: 'checkbox', id: 'rebuild-dry' });
    const btn = h('button', { type: 'submit', id: 'rebuild-start' }, 'Start rebuild');
    const form = h('form', { class: 'inline-form', onsubmit: async (ev) => {
      ev.preventDefault();
      btn.disabled = true;
      this.report.replaceChildren(h('p', {}, `Starting a rebuild of ${this.names.value}…`));
      try {
        await this.rebuild(this.names.value, dry.checked);
      } finally {
        btn.disabled = false;
      }
    } }, field('Read model', this.names), h('div', { class: 'field check' }, dry, h('label', { for: 'rebuild-dry' }, 'Dry run (compare only)')), btn);
    return section('Rebuild', form, this.report);
  }

  // rebuild starts the job (202 with its Location) and follows it live until its
  // outcome: progress while it runs, then the diff and whether it was swapped in.
  async rebuild(name, dryRun) {
    this.following?.abort();
    const following = new AbortController();
    this.following = following;
    try {
      const res = await post(`/v1/ops/projections/${enc(name)}/rebuild${q({ dryRun: dryRun ? 'true' : '' })}`);
      const done = await follow(res.headers.get('Location'), res.data,
        (st) => this.report.replaceChildren(statusView(st)), following.signal);
      announce(`Rebuild of ${name} ${done.state}${done.swapped ? ', swapped in' : ''}`);
    } catch (err) {
      if (following.signal.aborted) return;
      this.report.replaceChildren(problemView(err));
    }
    await this.refresh();
  }

  rulesSection() {
    return section('Rules versions', this.rules);
  }

  async loadRules() {
    try {
      const book = (await get('/v1/rules')).data;
      this.rules.replaceChildren(rulesView(book, () => this.loadRules()));
    } catch (err) {
      this.rules.replaceChildren(problemView(err));
    }
  }
}

// DeadLetters lists one read model's dead letters, open or resolved, and resolves an
// open one: inspect it (the event's data and the error), retry it once the cause is
// fixed, or discard it with a reason, which the API records with who and when.
class DeadLetters {
  // resolved is called after a letter is resolved, to show the read models' new counts.
  constructor(resolved) {
    this.resolved = resolved;
    this.names = h('select', { id: 'dl-name', onchange: () => this.load() });
    this.status = h('select', { id: 'dl-status', onchange: () => this.load() },
      h('option', { value: 'open' }, 'Open'), h('option', { value: 'resolved' }, 'Resolved (history)'));
    this.list = h('div', { id: 'dl-list' });
    this.detail = h('div', { id: 'dl-detail', 'aria-live': 'polite' });
  }

  section() {
    return section('Dead letters', h('div', { class: 'inline-form' }, field('Read model', this.names), field('Show', this.status)),
      this.list, this.detail);
  }

  // offer fills the read-model choice, the first time picking the first with open
  // letters; later it only updates the counts.
  offer(projections) {
    const label = (p) => `${p.name} (${p.deadLetters} open)`;
    if (this.names.options.length > 0) {
      for (const p of projections) {
        const o = [...this.names.options].find((x) => x.value === p.name);
        if (o) o.textContent = label(p);
      }
      return;
    }
    this.names.append(...projections.map((p) => h('option', { value: p.name }, label(p))));
    const first = projections.find((p) => p.deadLetters > 0);
    if (first) this.names.value = first.name;
  }

  base() { return `/v1/ops/projections/${enc(this.names.value)}/dead-letters`; }

  async load() {
    if (!this.names.value) return;
    this.rows = [];
    this.detail.replaceChildren();
    await this.more('');
  }

  async more(cursor) {
    try {
      const page = (await get(`${this.base()}${q({ status: this.status.value, cursor, limit: 50 })}`)).data;
      this.rows = this.rows.concat(page.deadLetters);
      this.draw(page.nextCursor);
    } catch (err) {
      this.list.replaceChildren(problemView(err));
    }
  }

  draw(next) {
    const resolved = this.status.value === 'resolved';
    const columns = [
      { label: 'Position', cell: (l) => l.position },
      { label: 'Event', cell: (l) => `${l.eventType} · ${l.stream}` },
      { label: 'Error', cell: (l) => l.error },
      { label: 'Dead-lettered', cell: (l) => when(l.at) },
    ];
    if (resolved) {
      columns.push({ label: 'Resolution', cell: (l) => `${l.resolution} by ${l.resolvedBy} at ${when(l.resolvedAt)}` },
        { label: 'Reason', cell: (l) => l.reason || '—' });
    }
    columns.push({ label: 'Actions', cell: (l) => h('button', { type: 'button', class: 'dl-inspect', 'aria-label': `Inspect the dead letter at ${l.position}`,
      onclick: () => this.inspect(l.position) }, 'Inspect') });
    const caption = `${this.names.value}: ${this.rows.length} ${resolved ? 'resolved' : 'open'} dead letter${this.rows.length === 1 ? '' : 's'}`;
    const more = next ? [h('button', { type: 'button', id: 'dl-more', onclick: () => this.more(next) }, 'More dead letters')] : [];
    this.list.replaceChildren(table(caption, columns, this.rows), ...more);
  }

  async inspect(position) {
    try {
      const l = (await get(`${this.base()}/${enc(position)}`)).data;
      this.detail.replaceChildren(h('h3', { id: 'dl-detail-title', tabindex: -1 }, `Dead letter at ${l.position} in ${l.projection} (generation ${l.generation})`),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Event'), h('dd', {}, `${l.eventType} ${l.eventId} in ${l.stream}, recorded ${when(l.recordedAt)}`),
          h('dt', {}, 'Error'), h('dd', { id: 'dl-error' }, l.error),
          l.resolution ? [h('dt', {}, 'Resolved'), h('dd', {}, `${l.resolution} by ${l.resolvedBy} at ${when(l.resolvedAt)}${l.reason ? `: ${l.reason}` : ''}`)] : null),
        h('pre', { id: 'dl-data', 'aria-label': 'Event data' }, JSON.stringify(l.data, null, 2)),
        l.resolution ? null : this.actions(l));
      this.detail.querySelector('h3').focus();
    } catch (err) {
      this.detail.replaceChildren(problemView(err));
    }
  }

  actions(l) {
    const outcome = h('div', { id: 'dl-outcome', 'aria-live': 'polite' });
    const reason = h('textarea', { id: 'dl-reason', rows: 2, maxlength: 1000, required: true });
    const resolve = async (action, body) => {
      try {
        const done = (await post(`${this.base()}/${enc(l.position)}/${action}`, body)).data;
        announce(`Dead letter at ${done.position} ${done.resolution}`);
        await Promise.all([this.load(), this.resolved()]);
        this.detail.replaceChildren(h('p', { id: 'dl-resolved' }, `Dead letter at ${done.position} ${done.resolution} by ${done.resolvedBy}.`));
      } catch (err) {
        outcome.replaceChildren(problemView(err));
      }
    };
    return h('div', {},
      h('p', { class: 'actions' }, h('button', { type: 'button', id: 'dl-retry', onclick: () => resolve('retry') }, 'Retry'),
        h('span', { class: 'hint' }, ' applies the event again; the letter stays open if the read model refuses it')),
      h('form', { class: 'inline-form', onsubmit: (ev) => { ev.preventDefault(); resolve('discard', { reason: reason.value }); } },
        field('Reason for discarding (recorded with your name)', reason), h('button', { type: 'submit', id: 'dl-discard' }, 'Discard')),
      outcome);
  }
}

function rebuildCell(p) {
  const r = p.rebuild;
  if (!r) return '—';
  const pct = p.rebuildProgress != null ? ` ${Math.round(p.rebuildProgress * 100)}%` : '';
  return [`${r.status}${pct} · gen ${r.generation} · ${r.events} events`, p.rebuildProgress != null
    ? h('progress', { max: 1, value: p.rebuildProgress, 'aria-label': `rebuild of ${p.name}` }) : null, r.error ? ` · ${r.error}` : ''];
}

// flatten turns a rules version into path → value, so two versions compare line by line.
function flatten(v, prefix = '', out = {}) {
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object')) { out[prefix] = v.join(', '); return out; }
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const key = Array.isArray(v) && x && typeof x === 'object' ? [x.name, x.version].filter(Boolean).join(' ') || k : k;
      flatten(x, prefix ? `${prefix}.${key}` : key, out);
    }
    return out;
  }
  out[prefix] = v === null ? 'null' : String(v);
  return out;
}

const differences = (n) => `${n} difference${n === 1 ? '' : 's'}`;

function diffRows(a, b) {
  const fa = flatten(a), fb = flatten(b);
  const keys = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].filter((k) => k !== 'version' && k !== 'effectiveFrom').sort();
  return keys.map((k) => ({ key: k, a: fa[k] ?? '—', b: fb[k] ?? '—' }));
}

function rulesView(book, reload) {
  const versions = book.versions;
  const pick = (id, sel) => h('select', { id }, versions.map((v) => h('option', { value: v.version, selected: v.version === sel }, `v${v.version} (${v.status}, from ${when(v.effectiveFrom)})`)));
  const left = pick('rules-left', versions.length > 1 ? versions[versions.length - 2].version : versions[0].version);
  const right = pick('rules-right', book.latest);
  const onlyDiff = h('input', { type: 'checkbox', id: 'rules-only-diff', checked: true });
  const out = h('div');
  const draw = () => {
    const a = versions.find((v) => String(v.version) === left.value).rules;
    const b = versions.find((v) => String(v.version) === right.value).rules;
    const rows = diffRows(a, b).filter((r) => !onlyDiff.checked || r.a !== r.b);
    out.replaceChildren(table(`v${left.value} beside v${right.value}: ${differences(rows.filter((r) => r.a !== r.b).length)}`, [
      { label: 'Rule', cell: (r) => r.key },
      { label: `v${left.value}`, cell: (r) => r.a },
      { label: `v${right.value}`, cell: (r) => r.b },
    ], rows, (r) => (r.a !== r.b ? { class: 'differs' } : {})));
  };
  for (const el of [left, right, onlyDiff]) el.addEventListener('change', draw);
  draw();
  return h('div', {},
    h('p', {}, `In force: v${book.inForce} · latest: v${book.latest}`),
    h('div', { class: 'inline-form' }, field('Compare', left), field('with', right),
      h('div', { class: 'field check' }, onlyDiff, h('label', { for: 'rules-only-diff' }, 'Only differences'))),
    out, publishForm(book, reload));
}

// publishForm edits the next version as JSON, previews its differences from the
// version in force, and publishes it (platform and ops; the API refuses anyone else).
function publishForm(book, reload) {
  const latest = book.versions[book.versions.length - 1].rules;
  const draft = { ...latest, version: book.latest + 1 };
  delete draft.effectiveFrom;
  const text = h('textarea', { id: 'rules-draft', rows: 12, spellcheck: 'false' });
  text.value = JSON.stringify(draft, null, 2);
  const preview = h('div', { 'aria-live': 'polite' });
  const inForce = book.versions.find((v) => v.version === book.inForce).rules;
  const parse = () => {
    try { return JSON.parse(text.value); } catch (err) { preview.replaceChildren(problemView(new Error(`Not JSON: ${err.message}`))); return null; }
  };
  const previewBtn = h('button', { type: 'button', id: 'rules-preview', onclick: () => {
    const d = parse();
    if (!d) return;
    const rows = diffRows(inForce, d).filter((r) => r.a !== r.b);
    preview.replaceChildren(table(`What v${d.version} changes against v${book.inForce} in force: ${differences(rows.length)}`, [
      { label: 'Rule', cell: (r) => r.key }, { label: 'In force', cell: (r) => r.a }, { label: 'Draft', cell: (r) => r.b },
    ], rows));
  } }, 'Preview changes');
  const publishBtn = h('button', { type: 'submit', id: 'rules-publish' }, 'Publish');
  return h('details', { class: 'publish' }, h('summary', {}, 'Publish a new rules version'),
    h('form', { onsubmit: async (ev) => {
      ev.preventDefault();
      const d = parse();
      if (!d) return;
      try {
        const res = await post('/v1/rules', d);
        announce(`Published rules v${res.data.version ?? d.version}`);
        await reload();
      } catch (err) {
        preview.replaceChildren(problemView(err));
      }
    } }, field('Next version (JSON; effectiveFrom is optional, now by default)', text), h('p', { class: 'actions' }, previewBtn, ' ', publishBtn)),
    preview);
}

// partitionsCell lists each partition of a read model: its checkpoint, its lag and the
// projector process that last committed it.
function partitionsCell(parts) {
  if (parts.length === 0) return '';
  return h('ul', { class: 'partitions' }, ...parts.map((q) => h('li', {},
    `p${q.partition}: ${q.checkpoint}`, q.lagEvents > 0 ? ` (${q.lagEvents} behind)` : '',
    ` · ${q.owner || 'no commit yet'}`)));
}
