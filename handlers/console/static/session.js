// The bearer token lives in sessionStorage: it goes when the tab closes, and no other
// site can read it. Its claims are decoded only to show who is signed in; the API
// checks the signature and decides everything.
const KEY = 'benefits.token';

export function token() {
  return sessionStorage.getItem(KEY) || '';
}

export function signIn(raw) {
  const t = raw.trim().replace(/^Bearer\s+/i, '');
  const claims = decode(t);
  if (!claims) throw new Error('That is not a JWT: paste the whole line `benefits token` printed.');
  sessionStorage.setItem(KEY, t);
  return claims;
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

export function claims() {
  return decode(token());
}

// rolesClaim is the claim a token carries its system roles in: "roles" in the ledger's
// own tokens, the server's --oidc-roles-claim in its OIDC provider's (setOIDC).
let oidcIssuer = '';
let oidcRolesClaim = 'roles';

export function setOIDC(issuer, rolesClaim) {
  oidcIssuer = issuer || '';
  oidcRolesClaim = rolesClaim || 'roles';
}

// roles are the system roles the token c claims (the API decides what they allow).
export function roles(c) {
  if (!c) return [];
  const v = c[oidcIssuer && c.iss === oidcIssuer ? oidcRolesClaim : 'roles'];
  return (Array.isArray(v) ? v : typeof v === 'string' ? [v] : []).filter((r) => ['platform', 'auditor', 'ops'].includes(r));
}

export function hasRole(...wanted) {
  return roles(claims()).some((r) => wanted.includes(r));
}

function decode(t) {
  const parts = (t || '').split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(b64 + '==='.slice((b64.length + 3) % 4)),
      (ch) => '%' + ch.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
    const c = JSON.parse(json);
    return typeof c === 'object' && c ? c : null;
  } catch {
    return null;
  }
}
