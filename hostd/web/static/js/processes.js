// The project's processes (issue 26): each replica (type.number, state, restarts, CPU,
// memory, uptime) and, per process type, its quantity with a Scale button (PATCH formation,
// with the session's CSRF token as every change of the dashboard).
import { api } from "./api.js";
import { $, el, say } from "./dom.js";
import { megabytes, percent } from "./format.js";

const RELOAD_EVERY_MS = 10000;  // on metrics events: each load measures every replica twice

function uptime(seconds) {
  if (typeof seconds !== "number") return "–";
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${unit}`;
  }
  return `${Math.floor(seconds)}s`;
}

export class ProcessesView {
  constructor(projectId, message) {
    this.base = `/api/projects/${encodeURIComponent(projectId)}`;
    this.message = message;
    this.loadedAt = 0;
    this.loading = null;
  }

  async load() {
    this.loadedAt = Date.now();
    const { formation, processes } = await api("GET", `${this.base}/formation`);
    $("#processes-card").hidden = Object.keys(formation).length === 0;
    $("#processes").replaceChildren(...processes.map((p) => el("tr", { "data-process": p.name },
      el("td", { class: "mono", text: p.name }),
      el("td", { class: "process-state", "data-state": p.state, text: p.state }),
      el("td", { text: String(p.restarts) }), el("td", { text: percent(p.cpu) }),
      el("td", { text: megabytes(p.memory) }), el("td", { text: uptime(p.uptime_s) }))));
    $("#formation").replaceChildren(...Object.entries(formation).map(([type, quantity]) =>
      this.control(type, quantity)));
  }

  // A metrics event: the replicas again, at most every RELOAD_EVERY_MS.
  refresh() {
    if (this.loading || Date.now() - this.loadedAt < RELOAD_EVERY_MS) return;
    this.loading = this.load().catch(() => {}).finally(() => { this.loading = null; });
  }

  control(type, quantity) {
    const input = el("input", { type: "number", min: 0, max: 20,
      value: quantity, "aria-label": `${type} replicas`, name: type });
    const button = el("button", { type: "button", "data-scale": type, text: "Scale" });
    button.addEventListener("click", () => this.scale(type, input, button));
    return el("li", { class: "inline" }, el("span", { class: "mono", text: type }), input, button);
  }

  async scale(type, input, button) {
    const quantity = Number(input.value);
    button.disabled = true;
    say(this.message, `scaling ${type} to ${quantity}…`);
    try {
      const answer = await api("PATCH", `${this.base}/formation`, { [type]: quantity });
      say(this.message, answer.message || `${type}: ${answer.formation[type]} running`, "ok");
    } catch (err) {
      say(this.message, err.message, "error");
    } finally {
      button.disabled = false;
      await this.load().catch(() => {});
    }
  }
}
