// A rebuild job followed live: its progress (bar, events/s, ETA) while it runs, then its
// outcome: the diff of the live generation against the rebuilt one (counts and sample
// rows per table) and whether the rebuilt one was swapped in.
//
// The job's server-sent events are read with fetch() and a streaming body reader, not
// EventSource: EventSource cannot send the Authorization header, and the API takes the
// bearer token nowhere else (a token in the URL would land in logs). The stream pushes
// each change as it happens (no request per second, no change missed between two
// polls: every event is the whole status); if it breaks before its "done" event (a
// proxy that buffers or cuts it), the status resource is polled instead.
import { h, table } from './ui.js';
import { call } from './api.js';
import { token } from './session.js';

const POLL_MS = 1000;

// follow calls onStatus with every status of the job at location until it is done, and
// returns the final one. signal stops it (the reader left the page).
export async function follow(location, first, onStatus, signal) {
  onStatus(first);
  if (first.state !== 'running') return first;
  let last = first;
  try {
    last = await stream(`${location}/events`, (st) => { last = st; onStatus(st); }, signal) || last;
  } catch (err) {
    if (signal.aborted) throw err;
  }
  while (last.state === 'running') {
    await sleep(POLL_MS, signal);
    last = (await call('GET', location)).data;
    onStatus(last);
  }
  return last;
}

// stream reads the event stream at path, calls onEvent with each status, and returns the
// status of its "done" event (undefined if the stream ended without one).
async function stream(path, onEvent, signal) {
  const res = await fetch(path, { headers: { Accept: 'text/event-stream', Authorization: `Bearer ${token()}` }, signal });
  if (!res.ok || !res.body) throw new Error(`event stream answered ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return undefined;
    buf += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const ev = parseEvent(buf.slice(0, end));
      buf = buf.slice(end + 2);
      if (!ev) continue;
      onEvent(ev.data);
      if (ev.name === 'done') {
        reader.cancel().catch(() => {});
        return ev.data;
      }
    }
  }
}

// parseEvent reads one server-sent event block (event: and data: lines).
function parseEvent(block) {
  let name = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) name = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length === 0) return null;
  return { name, data: JSON.parse(data.join('\n')) };
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
  });
}

// statusView is a job as it stands: progress while it runs, the outcome once done.
export function statusView(st) {
  if (st.state === 'running') return progressView(st);
  return outcomeView(st);
}

function progressView(st) {
  const pct = Math.round((st.progress || 0) * 100);
  return h('div', { id: 'rebuild-progress' },
    h('p', {}, `Rebuilding ${st.projection}${st.dryRun ? ' (dry run)' : ''}${st.resumed ? ', resumed' : ''}: `,
      h('span', { id: 'rebuild-percent' }, `${pct}%`), ` · ${st.events} events folded`,
      ` · position ${st.position || '—'} of ${st.head || '—'}`),
    h('progress', { id: 'rebuild-bar', max: 1, value: st.progress || 0, 'aria-label': `Rebuild of ${st.projection}, ${pct}%` }),
    h('p', {}, h('span', { id: 'rebuild-rate' }, `${Math.round(st.eventsPerSecond || 0)} events/s`), ' · ',
      h('span', { id: 'rebuild-eta' }, st.etaSeconds > 0 ? `ETA ${eta(st.etaSeconds)}` : 'ETA —')));
}

function eta(seconds) {
  if (seconds < 1) return 'under 1 s';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

// outcomeView is a finished job: failed (nothing swapped), or its report and diff, and
// whether the rebuilt generation is now the live one.
function outcomeView(st) {
  if (st.state === 'failed') {
    return h('div', { class: 'problem', role: 'alert', id: 'rebuild-outcome' },
      h('strong', {}, `Rebuild of ${st.projection} failed`), `: ${st.error || 'no reason given'}. `,
      st.swapped ? 'The rebuilt generation was swapped in before the failure.' : 'Nothing was swapped: the live read model is as it was.');
  }
  const r = st.report;
  const swap = st.dryRun ? 'Dry run: compared only, nothing swapped; the live read model is as it was.'
    : st.swapped ? `Swapped in: generation ${r ? r.toGeneration : '?'} is now the live ${st.projection}; the rows below are what changed for readers.`
      : 'Not swapped.';
  return h('div', { id: 'rebuild-outcome' },
    r ? h('p', { id: 'rebuild-summary' }, `${r.projection}: generation ${r.fromGeneration} → ${r.toGeneration}, v${r.fromVersion} → v${r.toVersion}, `,
      `${r.events} events in ${Number(r.seconds).toFixed(2)} s (${Math.round(r.eventsPerSecond)} events/s), compared at position ${r.comparedAt}; `,
      r.dryRun ? 'dry run: nothing swapped' : r.swapped ? 'swapped in' : 'not swapped') : null,
    h('p', { id: 'rebuild-swap', class: st.swapped ? 'swapped' : '' }, swap),
    st.reportFile ? h('p', { class: 'hint' }, `Report written to ${st.reportFile}`) : null,
    st.reportError ? h('p', { class: 'problem', role: 'alert' }, `The report could not be written: ${st.reportError}`) : null,
    r ? diffView(r.tables || []) : null);
}

function diffView(tables) {
  const changed = tables.filter((t) => t.added || t.removed || t.changed).length;
  return h('div', {},
    h('p', { id: 'rebuild-diff-verdict' }, changed === 0
      ? 'The rebuilt generation holds exactly the live rows: no difference.'
      : `${changed} of ${tables.length} table${tables.length === 1 ? '' : 's'} differ between the live generation (before) and the rebuilt one (after).`),
    table('Differences by table (before: live generation, after: rebuilt)', [
      { label: 'Table', cell: (t) => t.table },
      { label: 'Rows before → after', cell: (t) => `${t.rowsBefore} → ${t.rowsAfter}` },
      { label: 'Added', cell: (t) => t.added },
      { label: 'Removed', cell: (t) => t.removed },
      { label: 'Changed', cell: (t) => t.changed },
      { label: 'Samples', cell: (t) => samples(t) },
    ], tables));
}

function samples(t) {
  const items = [
    ...(t.addedSample || []).map((r) => `+ ${JSON.stringify(r)}`),
    ...(t.removedSample || []).map((r) => `- ${JSON.stringify(r)}`),
    ...(t.changedSample || []).map((c) => `~ ${JSON.stringify(c.key)} ${Object.entries(c.columns || {})
      .map(([col, v]) => `${col}: ${JSON.stringify(v.before)} → ${JSON.stringify(v.after)}`).join('; ')}`),
  ];
  return items.length ? h('details', { class: 'samples' }, h('summary', {}, `${items.length} sample row${items.length === 1 ? '' : 's'}`),
    h('pre', {}, items.join('\n'))) : '—';
}
