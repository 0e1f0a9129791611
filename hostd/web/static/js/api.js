// The API as the dashboard calls it: same-origin fetch with the session cookie (the
// browser holds it; no script can read it), and the session's CSRF token on changes.

const CHANGES = new Set(["POST", "PUT", "PATCH", "DELETE"]);
let csrfToken = null;

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.error = (body && body.error) || "Error";
  }
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (CHANGES.has(method) && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch { /* no JSON body */ }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Who is signed in (and this session's CSRF token), or null.
export async function currentSession() {
  try {
    const data = await api("GET", "/api/auth/session");
    csrfToken = data.csrf_token;
    return data.user;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export async function signIn(email, password) {
  const data = await api("POST", "/api/auth/session", { email, password });
  csrfToken = data.csrf_token;
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

export async function signOut() {
  try { await api("DELETE", "/api/auth/session"); } finally { csrfToken = null; }
}

// The page's user, or off to the sign-in page (which comes back here after).
export async function requireSession() {
  const user = await currentSession();
  if (user === null) {
    location.replace(`/signin?next=${encodeURIComponent(location.pathname)}`);
    return new Promise(() => {});  // the page is going away
  }
  return user;
}
