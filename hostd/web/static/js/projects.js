// The projects page: every project of the user, live from the event stream.
import { api, requireSession } from "./api.js";
import { DeployPanel } from "./deploypanel.js";
import { $, say, setText } from "./dom.js";
import { followEvents } from "./events.js";
import { applyMetrics, makeRow, showProject, showStatus } from "./rows.js";
import { showUser } from "./shell.js";

const rows = new Map();  // project id → row (rows.js)
const panel = new DeployPanel($("#deploy"));
let loading = null;

async function load() {
  const { projects } = await api("GET", "/api/projects");
  const seen = new Set();
  const order = [];
  for (const project of projects) {
    seen.add(project.id);
    let row = rows.get(project.id);
    if (row) showProject(row, project);
    else rows.set(project.id, row = makeRow(project));
    order.push(row.tr);
  }
  for (const id of [...rows.keys()]) if (!seen.has(id)) rows.delete(id);
  $("#rows").replaceChildren(...order);
  $("#empty").hidden = projects.length > 0;
  document.body.dataset.loaded = "true";
}

function reload() {  // one reload at a time; events meanwhile are folded in after
  loading ??= load().catch((err) => say($("#message"), err.message, "error"))
    .finally(() => { loading = null; });
  return loading;
}

function liveState(state) {
  const live = $("#live");
  live.dataset.state = state;
  setText(live, { live: "live", reconnecting: "reconnecting…", closed: "disconnected" }[state]);
}

async function create(event) {
  event.preventDefault();
  const form = event.target;
  if (!form.reportValidity()) return;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  say($("#message"), "");
  try {
    const { project } = await api("POST", "/api/projects", Object.fromEntries(new FormData(form)));
    form.reset();
    await reload();
    panel.show(project);
  } catch (err) {
    say($("#message"), err.message, "error");
  } finally {
    button.disabled = false;
  }
}

const user = await requireSession();
showUser(user);
$("#create-form").addEventListener("submit", create);
await reload();
performance.mark("hostd:projects-rendered");  // bench/dashboard.py: first meaningful paint
followEvents({
  connected: () => reload(),
  metrics_updated: (data) => {
    const row = rows.get(data.projectId);
    if (!row) { reload(); return; }
    applyMetrics(row, data.metrics || {}, performance.now());
    if (row.cells.status.dataset.status !== "running") showStatus(row, { status: "running" });
  },
  status_changed: (data) => {
    const row = rows.get(data.projectId);
    if (!row) { reload(); return; }
    showStatus(row, data);
    panel.update({ ...data, url: row.url });
  },
}, liveState);
