// Scheduled jobs (the release's app.json `cron`): each with its schedule, command, last run
// (and its exit) and next run (UTC), a "Run now" button, and the last runs' output.
import { api } from "./api.js";
import { $, el, say } from "./dom.js";
import { when } from "./format.js";

function lastRun(run) {
  if (!run) return "–";
  const exit = typeof run.exit_code === "number" ? ` (exit ${run.exit_code})` : "";
  return `${run.status}${exit} · ${when(run.started_at || run.scheduled_for)}`;
}

export class CronView {
  constructor(projectId, message) {
    this.base = `/api/projects/${encodeURIComponent(projectId)}/cron`;
    this.message = message;
  }

  async load() {
    const { jobs } = await api("GET", this.base);
    $("#cron-card").hidden = jobs.length === 0;
    $("#cron").replaceChildren(...jobs.map((job) => this.row(job)));
  }

  row(job) {
    const marks = [job.concurrency_policy !== "allow" ? job.concurrency_policy : null,
      job.maintenance ? "maintenance" : null].filter(Boolean);
    const command = marks.length ? `${job.command} [${marks.join(", ")}]` : job.command;
    const last = el("td", { class: "cron-last", "data-status": job.last_run?.status || "",
      text: lastRun(job.last_run) });
    const button = el("button", { type: "button", "data-job": job.id, text: "Run now" });
    button.addEventListener("click", () => this.run(job.id, button));
    const output = el("button", { type: "button", class: "link", text: "Output" });
    output.addEventListener("click", () => this.output(job.id));
    return el("tr", { "data-job": job.id }, el("td", { class: "mono", text: job.id }),
      el("td", { class: "mono", text: job.schedule }), el("td", { class: "mono", text: command }),
      last, el("td", { text: job.next_run ? when(job.next_run) : "–" }),
      el("td", { class: "actions" }, button, output));
  }

  async run(jobId, button) {
    button.disabled = true;
    try {
      await api("POST", `${this.base}/${encodeURIComponent(jobId)}/run`);
      say(this.message, `job ${jobId}: started`, "ok");
      await this.load();
    } catch (err) {
      say(this.message, err.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  async output(jobId) {
    const { runs } = await api("GET", `${this.base}/${encodeURIComponent(jobId)}/runs`);
    const [run] = runs;
    $("#cron-output-title").textContent = run ? `job ${jobId}: ${lastRun(run)}${run.reason ? ` — ${run.reason}` : ""}` : `job ${jobId}: no run yet`;
    $("#cron-output").textContent = run ? run.log.join("\n") : "";
  }
}
