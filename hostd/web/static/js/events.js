// Event streams, read with fetch: EventSource cannot send the session's CSRF header,
// which every request made with the session cookie needs (hostd.api.session). So the
// token never goes into a URL (where logs and history would keep it).
import { ApiError, currentSession, sessionHeaders, toSignIn } from "./api.js";

const RETRY_MS = 1000;
const RETRY_MAX_MS = 30000;

function parse(text) {
  try { return JSON.parse(text); } catch { return {}; }
}

// One text/event-stream response, event by event: onEvent(name, data, id); onOpen() once
// it answers; onRetry(ms) for a `retry:` field; onClose(error or null) when it ends,
// unless close() ended it.
export function readStream(url, {
  onOpen = () => {}, onEvent, onRetry = () => {}, onClose = () => {}, lastEventId = null,
}) {
  const controller = new AbortController();
  const run = async () => {
    const headers = sessionHeaders({ Accept: "text/event-stream" });
    if (lastEventId) headers["Last-Event-ID"] = lastEventId;
    const response = await fetch(url, {
      headers, credentials: "same-origin", cache: "no-store", signal: controller.signal,
    });
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch { /* no JSON body */ }
      throw new ApiError(response.status, body);
    }
    onOpen();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = { name: "", data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end).replace(/\r$/, "");
        buffer = buffer.slice(end + 1);
        if (line === "") {
          if (event.data.length) onEvent(event.name || "message", parse(event.data.join("\n")), event.id);
          event = { name: "", data: [], id: null };
          continue;
        }
        const colon = line.indexOf(":");
        if (colon === 0) continue;  // a comment: the keep-alive
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event.name = text;
        else if (field === "data") event.data.push(text);
        else if (field === "id") event.id = text;
        else if (field === "retry" && /^\d+$/.test(text)) onRetry(Number(text));
      }
    }
  };
  run().then(() => null, (err) => err).then((error) => {
    if (!controller.signal.aborted) onClose(error);
  });
  return { close: () => controller.abort() };
}

const refused = (error) => error instanceof ApiError && (error.status === 401 || error.status === 403);

// The caller's event stream (GET /api/containers/events), reconnected with Last-Event-ID
// as EventSource would. `end` means the stream's token was revoked or expired: a session
// still good (renewed since) reconnects; otherwise, back to sign-in.
export function followEvents(handlers, onState = () => {}) {
  let lastId = null;
  let stream = null;
  let stopped = false;
  let wait = RETRY_MS;  // the server's `retry:`, as EventSource would take it
  let retry = wait;
  const again = () => {
    onState("reconnecting");
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, RETRY_MAX_MS);
  };
  const ended = async () => {
    stream.close();
    const user = await currentSession().catch(() => undefined);
    if (user === null) { stopped = true; onState("closed"); toSignIn(); } else again();
  };
  function connect() {
    if (stopped) return;
    stream = readStream("/api/containers/events", {
      lastEventId: lastId,
      onOpen: () => { retry = wait; onState("live"); },
      onRetry: (ms) => { wait = retry = ms; },
      onEvent: (name, data, id) => {
        if (id) lastId = id;
        if (name === "end") ended();
        else handlers[name]?.(data);
      },
      onClose: (error) => {
        if (stopped) return;
        if (refused(error)) { stopped = true; onState("closed"); toSignIn(); } else again();
      },
    });
  }
  connect();
  return { close: () => { stopped = true; stream?.close(); } };
}

// A followed log (GET /api/projects/:id/logs?follow=true): `log {line}` events, then `end`.
// Not reconnected: a new connection would send the tail again.
export function followLog(projectId, source, tail, onLine, onEnd) {
  const url = `/api/projects/${encodeURIComponent(projectId)}/logs?source=${source}` +
    `&tail=${tail}&follow=true`;
  let done = false;
  const finish = (reason) => { if (!done) { done = true; stream.close(); onEnd(reason); } };
  const stream = readStream(url, {
    onEvent: (name, data) => {
      if (name === "log" && typeof data.line === "string") {
        onLine(data.line, typeof data.process === "string" ? data.process : null);
      }
      else if (name === "end") finish(data.reason || "");
    },
    onClose: () => finish("the log stream closed"),
  });
  return { close: () => { done = true; stream.close(); } };
}
