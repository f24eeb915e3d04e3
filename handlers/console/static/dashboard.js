// Partner dashboard: memberships and level, the activation (IDs only where the API
// shows them, R4), each contract's pools, linked accounts, incidents (paged) and the
// caller's support plans with the reason a plan is unavailable (R14). It polls the
// read models' position and re-reads when a command has landed.
import { h, table, section, field, when, day, problemView, announce, pageReady } from './ui.js';
import { get, q, enc } from './api.js';
import { claims } from './session.js';

const POLL_MS = 3000;
const INCIDENT_PAGE = 25;

export async function render(main, [mpn]) {
  main.append(partnerForm(mpn));
  if (!mpn) {
    await suggestPartners(main);
    return undefined;
  }
  const body = h('div', { class: 'dashboard' });
  main.append(body);
  const view = new Dashboard(mpn, body);
  await view.load();
  return view.startPolling();
}

function partnerForm(mpn) {
  const input = h('input', { id: 'mpn', name: 'mpn', inputmode: 'numeric', autocomplete: 'off', pattern: '[0-9]{5,10}', value: mpn || '', required: true });
  return h('form', { class: 'inline-form', onsubmit: (ev) => { ev.preventDefault(); location.hash = `#/dashboard/${enc(input.value.trim())}`; } },
    field('Partner (MPN ID)', input), h('button', { type: 'submit' }, 'Show partner'));
}

// suggestPartners lists the partners where the signed-in account holds plans: a
// partner user rarely knows its MPN ID by heart.
async function suggestPartners(main) {
  const c = claims();
  let mpns = [];
  try {
    const plans = (await get(`/v1/accounts/${enc(c.sub)}/support-plans`)).data;
    mpns = [...new Set([...plans.usable, ...plans.unavailable].map((p) => p.mpnId).filter(Boolean))];
  } catch { /* an account with no plans anywhere: nothing to suggest */ }
  if (mpns.length === 1 && main.isConnected) {
    location.replace(`#/dashboard/${enc(mpns[0])}`);
    return;
  }
  main.append(mpns.length
    ? h('nav', { 'aria-label': 'Your partners' }, h('p', {}, 'Your partners:'), h('ul', {}, mpns.map((m) => h('li', {}, h('a', { href: `#/dashboard/${enc(m)}` }, m)))))
    : h('p', { class: 'hint' }, 'Enter the MPN ID of a partner you may read.'));
  pageReady('dashboard');
}

class Dashboard {
  constructor(mpn, root) {
    this.mpn = mpn;
    this.root = root;
    this.status = '';
    this.seen = '';
    this.position = '';
  }

  async read() {
    const m = enc(this.mpn);
    const [benefits, remaining, plans, incidents] = await Promise.all([
      get(`/v1/partners/${m}/benefits`),
      get(`/v1/partners/${m}/remaining-incidents`),
      get(`/v1/accounts/${enc(claims().sub)}/support-plans`).catch((err) => ({ error: err })),
      get(`/v1/partners/${m}/incidents${q({ status: this.status, limit: INCIDENT_PAGE })}`),
    ]);
    const links = {};
    for (const c of remaining.data.contracts) {
      if (c.contractId) links[c.contractId] = (await get(`/v1/contracts/${enc(c.contractId)}/linked-accounts${q({ limit: 50 })}`)).data;
    }
    this.position = [benefits, remaining, incidents].map((r) => r.position || '').join('/');
    return { benefits: benefits.data, remaining: remaining.data, plans: plans.error ? plans : plans.data, incidents: incidents.data, links };
  }

  async load() {
    try {
      const data = await this.read();
      this.seen = JSON.stringify(data);
      this.paint(data);
    } catch (err) {
      this.root.replaceChildren(problemView(err));
    }
    pageReady('dashboard');
  }

  // startPolling re-reads when any read model has moved and repaints only when what
  // the partner sees has changed, so focus and scroll stay put otherwise.
  startPolling() {
    let timer;
    let stopped = false;
    const tick = async () => {
      if (stopped) return;
      if (!document.hidden) {
        try {
          const probe = await get(`/v1/partners/${enc(this.mpn)}/benefits`);
          if (!this.position.startsWith(`${probe.position}/`)) {
            const data = await this.read();
            const json = JSON.stringify(data);
            if (json !== this.seen) {
              this.seen = json;
              this.paint(data);
              announce(`Updated at ${new Date().toISOString().slice(11, 19)}Z`);
            }
          }
        } catch { /* the next tick tries again; the page keeps what it showed */ }
      }
      if (!stopped) timer = setTimeout(tick, POLL_MS);
    };
    timer = setTimeout(tick, POLL_MS);
    return () => { stopped = true; clearTimeout(timer); };
  }

  paint(d) {
    this.root.replaceChildren(
      overview(d.benefits),
      pools(d.remaining),
      linkedAccounts(d.remaining, d.links),
      this.incidents(d.incidents),
      supportPlans(d.plans),
    );
  }

  incidents(first) {
    const rows = [...first.incidents];
    const tbody = h('div');
    const more = h('button', { type: 'button', id: 'more-incidents' }, 'Load more incidents');
    let next = first.nextCursor;
    const draw = () => {
      tbody.replaceChildren(table(`Incidents (${rows.length} shown)`, incidentColumns, rows));
      more.hidden = !next;
    };
    more.addEventListener('click', async () => {
      try {
        const page = (await get(`/v1/partners/${enc(this.mpn)}/incidents${q({ status: this.status, cursor: next, limit: INCIDENT_PAGE })}`)).data;
        rows.push(...page.incidents);
        next = page.nextCursor;
        draw();
        announce(`${rows.length} incidents shown`);
        // Keep the keyboard where the reader is: on the button, or on the list once
        // the last page is in.
        (more.hidden ? tbody.querySelector('.table-wrap') : more).focus();
      } catch (err) {
        tbody.append(problemView(err));
      }
    });
    const filter = h('select', { id: 'incident-status', onchange: async (ev) => { this.status = ev.target.value; await this.load(); document.getElementById('incident-status')?.focus(); } },
      ['', 'open', 'closed'].map((s) => h('option', { value: s, selected: s === this.status }, s || 'all')));
    draw();
    return section('Incidents', field('Show', filter), tbody, more);
  }
}

function overview(b) {
  const a = b.activation;
  return section('Benefits',
    h('dl', { class: 'facts' },
      h('dt', {}, 'Partner'), h('dd', { id: 'partner-name' }, `${b.name} (${b.mpnId})${b.csp ? ' · CSP' : ''}`),
      h('dt', {}, 'Level'), h('dd', { id: 'partner-level' }, b.level || 'none'),
      h('dt', {}, 'Activation'), h('dd', { id: 'activation' }, a ? activation(a) : 'not activated yet')),
    table('Memberships', [
      { label: 'Membership', cell: (m) => m.membershipId },
      { label: 'Level', cell: (m) => m.level },
      { label: 'Competency', cell: (m) => m.competency || '—' },
      { label: 'Valid', cell: (m) => `${day(m.validFrom)} → ${day(m.validTo)}` },
      { label: 'Status', cell: (m) => m.status },
    ], b.memberships || []),
    table('Entitlements', [
      { label: 'Pool', cell: (e) => e.kind },
      { label: 'Granted', cell: (e) => (e.granted === null ? 'unlimited' : e.granted) },
    ], b.entitlements || []));
}

function activation(a) {
  const ids = a.accessId || a.contractId
    ? [h('span', {}, 'Access ID ', h('code', { class: 'id' }, a.accessId)), ' · ', h('span', {}, 'Contract ID ', h('code', { class: 'id' }, a.contractId))]
    : [h('span', { class: 'redacted' }, 'Access and Contract IDs hidden: your account is not linked to MPN (R4)')];
  return [ids, h('br'), `${a.level} · by ${a.activatedBy || '—'} on ${day(a.activatedAt)} · valid to ${day(a.validTo)}`];
}

function pools(r) {
  return section('Incident pools', r.contracts.length === 0 ? h('p', {}, 'No contract yet.') :
    r.contracts.map((c, i) => h('article', { class: 'contract' },
      h('h3', {}, c.contractId ? h('code', { class: 'id' }, c.contractId) : `Contract ${i + 1} (ID hidden, R4)`),
      h('p', { class: 'hint' }, `${c.status} · ${day(c.validFrom)} → expires ${day(c.validTo)}`),
      h('ul', { class: 'pools' }, c.pools.map((p) => pool(p))))));
}

function pool(p) {
  const label = p.granted === null
    ? `${p.kind}: unlimited, ${p.used} used`
    : `${p.kind}: ${p.used} used, ${p.remaining} remaining of ${p.granted}`;
  return h('li', { class: 'pool' },
    h('span', { class: 'pool-label' }, label),
    p.granted === null ? h('span', { class: 'unlimited' }, '∞')
      : h('progress', { max: p.granted || 1, value: p.used, 'aria-label': label }, `${p.used}/${p.granted}`));
}

function linkedAccounts(r, links) {
  const visible = r.contracts.filter((c) => c.contractId);
  if (visible.length === 0) {
    return section('Linked accounts', h('p', { class: 'redacted' }, r.contracts.length
      ? 'Linked accounts are shown only to MPN-linked users of the partner and system roles (R4).' : 'No contract yet.'));
  }
  return section('Linked accounts', visible.map((c) => table(`Accounts linked to ${c.contractId}`, [
    { label: 'Account', cell: (a) => a.userId },
    { label: 'Type', cell: (a) => a.accountType },
    { label: 'Linked', cell: (a) => when(a.linkedAt) },
    { label: 'By', cell: (a) => a.linkedBy },
  ], links[c.contractId]?.accounts || [])));
}

const incidentColumns = [
  { label: 'Incident', cell: (i) => i.incidentId },
  { label: 'Title', cell: (i) => i.title },
  { label: 'Product', cell: (i) => [i.product, i.version].filter(Boolean).join(' ') },
  { label: 'Pool', cell: (i) => i.pool || i.plan },
  { label: 'Status', cell: (i) => i.status },
  { label: 'Opened', cell: (i) => `${when(i.openedAt)} by ${i.openedBy}` },
  { label: 'Closed', cell: (i) => when(i.closedAt) },
];

function supportPlans(p) {
  if (p.error) return section('Your support plans', problemView(p.error));
  return section('Your support plans',
    table('Usable', [
      { label: 'Plan', cell: (x) => x.plan },
      { label: 'Partner', cell: (x) => x.mpnId },
      { label: 'Contract', cell: (x) => x.contractId || x.paidPlanId || '—' },
      { label: 'Valid to', cell: (x) => day(x.validTo) },
      { label: 'Remaining', cell: (x) => (x.granted === null ? 'unlimited' : `${x.remaining} of ${x.granted}`) },
    ], p.usable),
    table('Unavailable', [
      { label: 'Plan', cell: (x) => x.plan },
      { label: 'Partner', cell: (x) => x.mpnId },
      { label: 'Why (R14)', cell: (x) => x.reason || '—' },
    ], p.unavailable));
}
