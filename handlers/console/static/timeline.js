// Auditor's timeline: a partner's events in order with actor, roles, rules version,
// correlation and hash; its state as of an instant next to today's; the hash chain
// verified with the first broken link highlighted; NDJSON export of what is shown.
import { h, table, section, field, when, problemView, announce, pageReady } from './ui.js';
import { get, q, enc } from './api.js';
import { hasRole } from './session.js';

const HISTORY_PAGE = 50;

export async function render(main, [mpn]) {
  const input = h('input', { id: 'audit-mpn', inputmode: 'numeric', autocomplete: 'off', pattern: '[0-9]{5,10}', value: mpn || '', required: true });
  main.append(h('form', { class: 'inline-form', onsubmit: (ev) => { ev.preventDefault(); location.hash = `#/timeline/${enc(input.value.trim())}`; } },
    field('Partner (MPN ID)', input), h('button', { type: 'submit' }, 'Show history')));
  if (!mpn) {
    pageReady('timeline');
    return;
  }
  const t = new Timeline(mpn);
  main.append(t.asOfSection(), t.verifySection(), t.historySection());
  await Promise.all([t.more(), t.compare('')]);
  pageReady('timeline');
}

class Timeline {
  constructor(mpn) {
    this.mpn = mpn;
    this.events = [];
    this.next = undefined;
    this.broken = null;
    this.list = h('div');
    this.moreBtn = h('button', { type: 'button', id: 'more-history' }, 'Load more events');
    this.moreBtn.addEventListener('click', () => this.more());
    this.exportLink = h('a', { id: 'export', class: 'button', download: `history-${mpn}.ndjson`, hidden: true }, 'Export shown events (NDJSON)');
    this.stateBox = h('div', { class: 'side-by-side' });
    this.verdict = h('div', { id: 'verdict', role: 'status' });
  }

  historySection() {
    return section('History', h('p', { class: 'actions' }, this.exportLink), this.list, this.moreBtn);
  }

  async more() {
    try {
      const page = (await get(`/v1/partners/${enc(this.mpn)}/history${q({ cursor: this.next, limit: HISTORY_PAGE })}`)).data;
      this.events.push(...page.events);
      this.next = page.nextCursor;
      this.draw();
    } catch (err) {
      this.list.replaceChildren(problemView(err));
      this.moreBtn.hidden = true;
    }
  }

  draw() {
    const br = this.broken;
    this.list.replaceChildren(table(`Events of partner ${this.mpn} (${this.events.length} shown)`, [
      { label: 'Rev', cell: (e) => e.revision },
      { label: 'Position', cell: (e) => e.position },
      { label: 'Event', cell: (e) => e.type },
      { label: 'Occurred', cell: (e) => when(e.data?.occurredAt) },
      { label: 'Recorded', cell: (e) => when(e.recordedAt) },
      { label: 'Actor', cell: (e) => e.metadata?.actor || '—' },
      { label: 'Roles', cell: (e) => (e.metadata?.roles || []).join(', ') || '—' },
      { label: 'Rules', cell: (e) => `v${e.metadata?.rulesVersion ?? '?'}` },
      { label: 'Correlation', cell: (e) => h('code', {}, e.metadata?.correlationId || '—') },
      { label: 'Hash', cell: (e) => h('code', { title: e.metadata?.hash || '' }, (e.metadata?.hash || '').slice(0, 12)) },
    ], this.events, (e) => (br && br.revision === e.revision ? { class: 'broken', id: 'broken-link', 'aria-label': `First broken link: ${br.reason}` } : {})));
    this.moreBtn.hidden = !this.next;
    // The export holds exactly the events on screen, one JSON object a line.
    const ndjson = this.events.map((e) => JSON.stringify(e)).join('\n') + (this.events.length ? '\n' : '');
    if (this.exportLink.href.startsWith('blob:')) URL.revokeObjectURL(this.exportLink.href);
    this.exportLink.href = URL.createObjectURL(new Blob([ndjson], { type: 'application/x-ndjson' }));
    this.exportLink.hidden = false;
  }

  asOfSection() {
    const at = h('input', { id: 'as-of', type: 'datetime-local', step: 1 });
    const form = h('form', { class: 'inline-form', onsubmit: (ev) => { ev.preventDefault(); this.compare(at.value ? new Date(`${at.value}Z`).toISOString() : ''); } },
      field('As of (UTC)', at), h('button', { type: 'submit' }, 'Show state then'));
    return section('State then and now', form, this.stateBox);
  }

  async compare(asOf) {
    const m = enc(this.mpn);
    try {
      const [now, then] = await Promise.all([get(`/v1/partners/${m}/state`), asOf ? get(`/v1/partners/${m}/state${q({ asOf })}`) : null]);
      const cols = [then ? stateView(`As of ${when(asOf)}`, then.data, now.data) : null, stateView('Now', now.data, null)];
      this.stateBox.replaceChildren(...cols.filter(Boolean));
      if (asOf) announce(`State as of ${when(asOf)} shown beside today's`);
    } catch (err) {
      this.stateBox.replaceChildren(problemView(err));
    }
  }

  verifySection() {
    const btn = h('button', { type: 'button', id: 'verify' }, 'Verify the hash chain');
    btn.addEventListener('click', () => this.verify());
    const note = hasRole('auditor', 'ops') ? null : h('p', { class: 'hint' }, 'Chain verification is open to auditors and ops.');
    return section('Chain verification', note, btn, this.verdict);
  }

  async verify() {
    try {
      const v = (await get(`/v1/audit/verify${q({ stream: `partner-${this.mpn}` })}`)).data;
      this.broken = v.broken || null;
      this.verdict.replaceChildren(v.intact
        ? h('p', { class: 'ok' }, `Intact: ${v.eventsChecked} events checked.`)
        : h('div', { class: 'problem' }, h('strong', {}, 'Broken '), `at revision ${v.broken.revision} (position ${v.broken.position}, event ${v.broken.eventId}): ${v.broken.reason}`,
          h('br'), `expected ${v.broken.expected}`, h('br'), `found ${v.broken.found}`));
      this.draw();
      const row = document.getElementById('broken-link');
      if (row) row.scrollIntoView({ block: 'center' });
    } catch (err) {
      this.verdict.replaceChildren(problemView(err));
    }
  }
}

// stateView renders one column of the comparison; a value that differs from the
// other column is marked.
function stateView(title, s, other) {
  const facts = summary(s);
  const theirs = other ? summary(other) : null;
  return h('article', { class: 'card state' }, h('h3', {}, title),
    h('p', { class: 'hint' }, `${s.events} events folded, last at position ${s.position}`),
    h('dl', { class: 'facts' }, Object.entries(facts).flatMap(([k, v]) => {
      const differs = theirs && theirs[k] !== v;
      return [h('dt', {}, k), h('dd', { class: differs ? 'differs' : '' }, v, differs ? h('span', { class: 'sr-only' }, ' (differs from now)') : null)];
    })));
}

function summary(s) {
  const out = { Level: s.benefits.level || 'none', Memberships: s.benefits.memberships.map((m) => `${m.membershipId} ${m.level} ${m.status}`).join('; ') || 'none' };
  for (const c of s.remainingIncidents.contracts) {
    out[`Contract ${c.contractId}`] = c.status;
    for (const p of c.pools) out[`· ${p.kind}`] = p.granted === null ? `unlimited, ${p.used} used` : `${p.used} used, ${p.remaining} of ${p.granted} left`;
  }
  out['Linked accounts'] = String(s.linkedAccounts.reduce((n, c) => n + c.accounts.length, 0));
  out['Incidents (first page)'] = String(s.incidents.incidents.length);
  return out;
}
