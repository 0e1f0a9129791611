// The caller's event stream (GET /api/containers/events), by EventSource with the
// session cookie. The browser reconnects on its own (sending Last-Event-ID); `end` means
// the session was revoked or expired: back to sign-in.

export function followEvents(handlers, onState = () => {}) {
  const source = new EventSource("/api/containers/events");
  const parse = (message) => { try { return JSON.parse(message.data); } catch { return {}; } };
  source.addEventListener("open", () => onState("live"));
  source.addEventListener("error", () => onState(source.readyState === 2 ? "closed" : "reconnecting"));
  for (const name of ["connected", "metrics_updated", "status_changed"]) {
    source.addEventListener(name, (message) => handlers[name]?.(parse(message)));
  }
  source.addEventListener("end", () => {
    source.close();
    location.assign(`/signin?next=${encodeURIComponent(location.pathname)}`);
  });
  return source;
}

// A followed log (GET /api/projects/:id/logs?follow=true): `log {line}` events, then `end`.
export function followLog(projectId, source, tail, onLine, onEnd) {
  const url = `/api/projects/${encodeURIComponent(projectId)}/logs?source=${source}` +
    `&tail=${tail}&follow=true`;
  const stream = new EventSource(url);
  stream.addEventListener("log", (message) => {
    try { onLine(JSON.parse(message.data).line); } catch { /* a malformed event */ }
  });
  stream.addEventListener("end", (message) => {
    stream.close();
    let reason = "";
    try { reason = JSON.parse(message.data).reason || ""; } catch { /* none */ }
    onEnd(reason);
  });
  // Not reconnected: a new connection would send the tail again.
  stream.addEventListener("error", () => { stream.close(); onEnd("the log stream closed"); });
  return stream;
}
