// The console's only way to the ledger: the public /v1 API, same origin, with the
// pasted bearer token. A refusal comes back as the API's problem+json.
import { token } from './session.js';

export class ProblemError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.problem = problem;
  }
}

export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text }; }
  }
  if (!res.ok) {
    throw new ProblemError({ status: res.status, ...(data || {}) });
  }
  return { status: res.status, data, headers: res.headers, position: res.headers.get('X-Projection-Position') };
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);

export function q(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : '';
}

// enc escapes one path segment (the API decodes path parameters).
export const enc = (segment) => encodeURIComponent(segment);
