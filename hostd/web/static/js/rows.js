// One project's line of the projects page: its cells, made once and then only their text
// changes (no re-render, no layout shift), and its samples for the sparklines.
import { el, link, setText } from "./dom.js";
import { megabytes, percent, rate, release } from "./format.js";
import { HISTORY, drawSparkline, sparkline } from "./spark.js";

export function makeRow(project) {
  const cells = {
    name: el("a", { href: `/projects/${encodeURIComponent(project.id)}` }),
    status: el("span", { class: "badge" }),
    reason: el("span", { class: "reason" }),
    release: el("span", { class: "val" }),
    cpu: el("span", { class: "val" }),
    cpuSpark: sparkline("CPU over the last minutes"),
    memory: el("span", { class: "val" }),
    rps: el("span", { class: "val" }),
    rpsSpark: sparkline("Requests per second over the last minutes"),
    url: el("span", { class: "url" }),
  };
  const tr = el("tr", { "data-id": project.id },
    el("th", { scope: "row", "data-label": "Project" }, cells.name),
    el("td", { "data-label": "Status" }, cells.status, cells.reason),
    el("td", { "data-label": "Release" }, cells.release),
    el("td", { class: "num", "data-label": "CPU" }, cells.cpu, cells.cpuSpark),
    el("td", { class: "num", "data-label": "Memory" }, cells.memory),
    el("td", { class: "num", "data-label": "Requests" }, cells.rps, cells.rpsSpark),
    el("td", { "data-label": "URL" }, cells.url));
  const row = { tr, cells, cpu: [], rps: [], requests: null, sampledAt: null, url: null };
  showProject(row, project);
  return row;
}

export function showProject(row, project) {
  const { cells } = row;
  setText(cells.name, project.name);
  showStatus(row, project);
  setText(cells.release, release(project.release));
  if (project.url !== row.url) {
    row.url = project.url;
    cells.url.replaceChildren(link(project.url));
  }
  if (row.sampledAt === null && project.metrics) {
    setText(cells.cpu, percent(project.metrics.cpu));
    setText(cells.memory, megabytes(project.metrics.memory));
  }
  if (row.sampledAt === null) setText(cells.rps, rate(null));
}

export function showStatus(row, data) {
  const status = data.status || "unknown";
  const deploying = data.deploying || Boolean(data.deploy_step);
  setText(row.cells.status, deploying && status === "running" ? "running · deploying" : status);
  row.cells.status.dataset.status = status;
  const reason = status === "running" || status === "stopped" ? "" : data.status_reason || "";
  setText(row.cells.reason, reason);
  if (typeof data.release === "number") setText(row.cells.release, release(data.release));
}

// A metrics sample: requests/s from the counter's change since the last one (as
// `hostctl top` does; a lower count means the container restarted).
export function applyMetrics(row, metrics, now) {
  const requests = Number(metrics.requests || 0);
  let perSecond = null;
  if (row.sampledAt !== null && row.requests !== null && requests >= row.requests) {
    const elapsed = (now - row.sampledAt) / 1000;
    perSecond = elapsed > 0 ? (requests - row.requests) / elapsed : null;
  }
  row.requests = requests;
  row.sampledAt = now;
  push(row.cpu, Number(metrics.cpu || 0));
  if (perSecond !== null) push(row.rps, perSecond);
  setText(row.cells.cpu, percent(Number(metrics.cpu || 0)));
  setText(row.cells.memory, megabytes(Number(metrics.memory || 0)));
  setText(row.cells.rps, rate(perSecond));
  row.tr.dataset.rps = perSecond === null ? "" : perSecond.toFixed(3);
  drawSparkline(row.cells.cpuSpark, row.cpu);
  drawSparkline(row.cells.rpsSpark, row.rps);
}

function push(values, value) {
  values.push(value);
  if (values.length > HISTORY) values.shift();
}
