// One project's page: status and reason, actions, logs, config vars, releases, processes,
// cron, delete.
import { ApiError, api, requireSession } from "./api.js";
import { $, link, say, setText } from "./dom.js";
import { followEvents } from "./events.js";
import { CronView } from "./cron.js";
import { megabytes, percent, rate, release } from "./format.js";
import { LogView } from "./logview.js";
import { ProcessesView } from "./processes.js";
import { ReleasesView } from "./releases.js";
import { showUser } from "./shell.js";
import { VarsView } from "./vars.js";

const projectId = decodeURIComponent(location.pathname.split("/")[2] || "");
const message = $("#message");
const base = `/api/projects/${encodeURIComponent(projectId)}`;
let project = null;
let sample = null;  // the last metrics sample: {requests, at}

const ACTIONS = {
  start: ["POST", `/api/containers/${encodeURIComponent(projectId)}/start`, "starting…"],
  stop: ["POST", `/api/containers/${encodeURIComponent(projectId)}/stop`, "stopping…"],
  restart: ["POST", `/api/containers/${encodeURIComponent(projectId)}/restart`, "restarting…"],
  redeploy: ["POST", `${base}/deploy`, "redeploying the latest commit…"],
};

function showStatus(data) {
  const status = data.status || "unknown";
  const badge = $("#status");
  const deploying = data.deploying || Boolean(data.deploy_step);
  setText(badge, deploying && status === "running" ? "running · deploying" : status);
  badge.dataset.status = status;
  setText($("#reason"), data.status_reason || "");
  if (typeof data.release === "number") setText($("#release"), release(data.release));
  const failing = data.cron?.failing || [];
  const cron = $("#cron-failing");
  setText(cron, failing.length ? `failing: ${failing.join(", ")}` : "–");
  cron.dataset.kind = failing.length ? "error" : "";
  const want = data.desired_status || (status === "stopped" ? "stopped" : "running");
  document.querySelector("[data-action=start]").disabled = status === "running" && want === "running";
  document.querySelector("[data-action=stop]").disabled = status === "stopped" && want === "stopped";
}

function showProject(p) {
  project = p;
  document.title = `${p.name} · hostd`;
  setText($("#name"), p.name);
  $("#url").replaceChildren(link(p.url));
  setText($("#template"), p.template);
  // An upload project has no repository: its source is the archive of that sha256.
  setText($("#repo"), p.source === "upload"
    ? `uploaded source ${p.upload_digest ? `(sha256 ${p.upload_digest.slice(0, 12)}…)` : "(none yet)"}`
    : p.github_url);
  setText($("#release"), release(p.release));
  if (sample === null) {
    setText($("#cpu"), percent(p.metrics?.cpu));
    setText($("#memory"), megabytes(p.metrics?.memory));
    setText($("#rps"), rate(null));
  }
  showStatus(p);
  $("#delete-form").elements.confirm.placeholder = p.name;
}

async function reload() {
  try {
    showProject((await api("GET", base)).project);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      say(message, "No such project (it may have been deleted).", "error");
      return;
    }
    say(message, err.message, "error");
  }
}

async function act(name, button) {
  const [method, path, doing] = ACTIONS[name];
  button.disabled = true;
  say(message, doing);
  try {
    const answer = await api(method, path);
    say(message, answer.message || `${name}: done`, "ok");
  } catch (err) {
    say(message, err.message, "error");
  } finally {
    button.disabled = false;
    await reload();
  }
}

function metrics(data) {
  const now = performance.now();
  const requests = Number(data.requests || 0);
  let perSecond = null;
  if (sample && requests >= sample.requests) perSecond = (requests - sample.requests) / ((now - sample.at) / 1000);
  sample = { requests, at: now };
  setText($("#cpu"), percent(Number(data.cpu || 0)));
  setText($("#memory"), megabytes(Number(data.memory || 0)));
  setText($("#rps"), rate(perSecond));
}

function setUpDelete() {
  const form = $("#delete-form");
  const button = form.querySelector("button");
  form.elements.confirm.addEventListener("input", () => {
    button.disabled = !project || form.elements.confirm.value !== project.name;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!project || form.elements.confirm.value !== project.name) return;
    button.disabled = true;
    say(message, "deleting…");
    try {
      await api("DELETE", base);
      location.assign("/");
    } catch (err) {
      say(message, err.message, "error");
      button.disabled = false;
    }
  });
}

const user = await requireSession();
showUser(user);
await reload();
if (project) {
  const logs = new LogView(projectId);
  const releases = new ReleasesView(projectId, message, reload);
  // The answer to a config change comes after its release serves: show that release.
  const vars = new VarsView(projectId, message, () => releases.load().catch(() => {}));
  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", () => act(button.dataset.action, button));
  }
  setUpDelete();
  logs.show(project.status === "running" || project.container_id ? "runtime" : "build");
  const cron = new CronView(projectId, message);
  const processes = new ProcessesView(projectId, message);
  await Promise.all([vars.load(), releases.load(), cron.load(), processes.load()]).catch((err) => say(message, err.message, "error"));
  document.body.dataset.loaded = "true";
  followEvents({
    connected: () => reload(),
    metrics_updated: (data) => {
      if (data.projectId !== projectId) return;
      metrics(data.metrics || {});
      processes.refresh();
    },
    status_changed: (data) => {
      if (data.projectId !== projectId) return;
      showStatus(data);
      logs.statusChanged(data.status);
      if (data.status === "running") {
        releases.load().catch(() => {});
        cron.load().catch(() => {});  // a deploy or rollback brings its release's jobs
        processes.load().catch(() => {});
      }
    },
    cron_run: (data) => { if (data.projectId === projectId) cron.load().catch(() => {}); },
  }, (state) => {
    const live = $("#live");
    live.dataset.state = state;
    setText(live, { live: "live", reconnecting: "reconnecting…", closed: "disconnected" }[state]);
  });
}
