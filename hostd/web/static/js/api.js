// The API as the dashboard calls it: same-origin fetch with the session cookie (the
// browser holds it; no script can read it) and, on every request, the session's CSRF
// token. The sign-in's answer is the only place that tells the token: it is kept in this
// origin's localStorage (http://hostd.localhost:<port>), which no other origin — no app
// on another port — can read, so the cookie alone is worth nothing (hostd.api.session).

const CSRF_KEY = "hostd.csrf";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.error = (body && body.error) || "Error";
  }
}

export function csrfToken() {
  try { return localStorage.getItem(CSRF_KEY); } catch { return null; }
}

function keepCsrf(token) {
  try {
    if (token) localStorage.setItem(CSRF_KEY, token);
    else localStorage.removeItem(CSRF_KEY);
  } catch { /* storage off: this page only */ }
}

// The headers of a request with the session: the CSRF token when there is one.
export function sessionHeaders(extra = {}) {
  const token = csrfToken();
  return token ? { ...extra, "X-CSRF-Token": token } : { ...extra };
}

export async function api(method, path, body) {
  const headers = sessionHeaders({ Accept: "application/json" });
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, credentials: "same-origin", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch { /* no JSON body */ }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Who is signed in, or null (no session, or one this page has no CSRF token for).
export async function currentSession() {
  if (!csrfToken()) return null;
  try {
    return (await api("GET", "/api/auth/session")).user;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      keepCsrf(null);
      return null;
    }
    throw err;
  }
}

export async function signIn(email, password) {
  const data = await api("POST", "/api/auth/session", { email, password });
  keepCsrf(data.csrf_token);
  return data.user;
}

// A new account, then a session for it. The token /register answers is revoked at once:
// the browser keeps only its cookie.
export async function register(email, password, name) {
  const data = await api("POST", "/api/auth/register", { email, password, name });
  const user = await signIn(email, password);
  await fetch("/api/auth/logout", {
    method: "POST", headers: { Authorization: `Bearer ${data.token}` }, credentials: "omit",
  });
  return user;
}

let signingOut = false;  // the page goes to /signin itself: no stream sends it elsewhere

export async function signOut() {
  signingOut = true;
  try { await api("DELETE", "/api/auth/session"); } finally { keepCsrf(null); }
}

// Off to the sign-in page, which comes back here after (a stream's session ended).
export function toSignIn() {
  if (!signingOut) location.assign(`/signin?next=${encodeURIComponent(location.pathname)}`);
}

// The page's user, or off to the sign-in page.
export async function requireSession() {
  const user = await currentSession();
  if (user === null) {
    location.replace(`/signin?next=${encodeURIComponent(location.pathname)}`);
    return new Promise(() => {});  // the page is going away
  }
  return user;
}
