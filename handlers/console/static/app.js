// The console's shell: sign-in, who am I, and a hash router over the four pages. Each
// page renders into <main> and returns a function that stops its timers.
import { h, announce, pageReady, currentPage } from './ui.js';
import * as session from './session.js';
import * as oidc from './oidc.js';
import * as dashboard from './dashboard.js';
import * as timeline from './timeline.js';
import * as ops from './ops.js';
import * as reference from './reference.js';

const pages = { dashboard, timeline, ops, api: reference };
const titles = { dashboard: 'Partner dashboard', timeline: "Auditor's timeline", ops: 'Ops control room', api: 'API reference' };
let stop = () => {};
let generation = 0; // the latest render; an older one still loading is dropped

function route() {
  const [, name = '', ...args] = (location.hash || '#/').split('/');
  return { page: currentPage(), args: args.map(decodeURIComponent) };
}

function showSession() {
  const c = session.claims();
  document.getElementById('signin').hidden = !!c;
  document.getElementById('whoami').hidden = !c;
  if (!c) return;
  document.getElementById('who-sub').textContent = c.sub || '(no sub)';
  const held = session.roles(c);
  const roles = held.length ? held : null;
  document.getElementById('who-roles').textContent = roles ? `· roles: ${roles.join(', ')}` : '· partner user (no system role)';
  document.getElementById('who-exp').textContent = c.exp ? `· token expires ${new Date(c.exp * 1000).toISOString().slice(0, 16).replace('T', ' ')}Z` : '';
}

async function render() {
  stop();
  stop = () => {};
  const mine = ++generation;
  delete document.body.dataset.ready; // set again when this page's data is on screen
  const { page, args } = route();
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.title = `${titles[page]} · Benefits ledger`;
  // Each render fills its own container: one that a newer render replaced while it
  // was loading only fills a detached element.
  const view = h('div', { class: 'view' });
  document.getElementById('main').replaceChildren(h('h1', {}, titles[page]), view);
  if (!session.token() && page !== 'api') {
    view.append(h('p', { class: 'notice' }, 'Sign in with a bearer token first: run ',
      h('code', {}, 'benefits token --sub you@example.com'), ' (add ', h('code', {}, '--roles auditor'), ' or ', h('code', {}, '--roles ops'),
      ' for those pages) and paste the line it prints into the field above.'),
      oidcButton() ? h('p', { class: 'notice' }, `Or use “${oidcButton().textContent}” above to sign in at your organisation's provider.`) : null);
    pageReady(page);
    return;
  }
  const cleanup = await pages[page].render(view, args);
  if (typeof cleanup !== 'function') return;
  if (mine === generation) stop = cleanup; else cleanup();
}

async function init() {
  document.getElementById('signin').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = document.getElementById('token');
    try {
      const c = session.signIn(input.value);
      input.value = '';
      showSession();
      announce(`Signed in as ${c.sub}`);
      render();
      document.getElementById('main').focus();
    } catch (err) {
      announce(err.message);
      input.setAttribute('aria-invalid', 'true');
    }
  });
  document.getElementById('signout').addEventListener('click', () => {
    session.signOut();
    showSession();
    announce('Signed out');
    render();
    document.getElementById('token').focus();
  });
  window.addEventListener('hashchange', () => {
    if (location.hash === '#main') return; // the skip link, not a page
    render();
  });
  document.getElementById('skip').addEventListener('click', (ev) => {
    ev.preventDefault();
    document.getElementById('main').focus();
  });
  await offerOIDC();
  showSession();
  render();
}

function oidcButton() {
  const b = document.getElementById('oidc-signin');
  return b && !b.hidden ? b : null;
}

// offerOIDC shows "Sign in with <provider>" where the server has one, and completes a
// sign-in the provider has just sent the browser back from.
async function offerOIDC() {
  const offer = await oidc.config();
  if (!offer.oidc) return;
  session.setOIDC(offer.oidc.issuer, offer.oidc.rolesClaim);
  const btn = document.getElementById('oidc-signin');
  btn.textContent = `Sign in with ${new URL(offer.oidc.issuer).host}`;
  btn.hidden = false;
  btn.addEventListener('click', () => oidc.start(offer.oidc).catch((err) => announce(err.message)));
  try {
    const t = await oidc.finish();
    if (t) {
      const c = session.signIn(t);
      announce(`Signed in as ${c.sub}`);
    }
  } catch (err) {
    document.getElementById('signin-error').textContent = err.message;
  }
}

init();
