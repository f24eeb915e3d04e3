// Sign-in through the OpenID Connect provider the server names in /console/config.json:
// the authorization-code flow with PKCE, in the browser, as a public client (no secret).
// The provider sends the browser back to / with a code; the console trades it, with
// the verifier only it knows, for tokens, and keeps the ID token in sessionStorage as
// the bearer token (its audience is the console's client, which the API accepts).
const PENDING = 'benefits.oidc.pending';

// config is the server's sign-in offer: { oidc: {...} | null, oidcError? }.
export async function config() {
  try {
    const res = await fetch('/console/config.json', { headers: { Accept: 'application/json' } });
    return res.ok ? await res.json() : { oidc: null };
  } catch {
    return { oidc: null };
  }
}

// start sends the browser to the provider's login.
export async function start(oidc) {
  const verifier = random(32);
  const pending = { verifier, state: random(16), nonce: random(16), tokenEndpoint: oidc.tokenEndpoint, clientId: oidc.clientId };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(oidc.authorizationEndpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: oidc.clientId, redirect_uri: redirectURI(), scope: oidc.scope,
    state: pending.state, nonce: pending.nonce, code_challenge: await challenge(verifier), code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

// finish completes a sign-in the provider sent the browser back from: it returns the ID
// token, or null when this load is no such return. It throws the provider's refusal.
export async function finish() {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', '/' + location.hash); // the code is single-use: off the address bar
  if (!pending || params.get('state') !== pending.state) throw new Error('Sign-in answer does not match a sign-in this tab started: try again.');
  if (params.has('error')) throw new Error(`The provider refused the sign-in: ${params.get('error_description') || params.get('error')}`);
  const res = await fetch(pending.tokenEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code'), redirect_uri: redirectURI(),
      client_id: pending.clientId, code_verifier: pending.verifier }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.id_token) throw new Error(`The provider did not give a token: ${body.error_description || body.error || res.status}`);
  if (payload(body.id_token).nonce !== pending.nonce) throw new Error('The token is not for this sign-in (nonce): try again.');
  return body.id_token;
}

function redirectURI() {
  return `${location.origin}/`;
}

function random(bytes) {
  return b64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challenge(verifier) {
  return b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
}

function b64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function payload(jwt) {
  try {
    const b64 = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(b64 + '==='.slice((b64.length + 3) % 4)));
  } catch {
    return {};
  }
}
