// Releases, newest first, each but the current with a rollback button that says what it
// will do, and asks once more before doing it.
import { api } from "./api.js";
import { $, el, say, setText } from "./dom.js";
import { when } from "./format.js";

export class ReleasesView {
  constructor(projectId, message, onChange) {
    this.projectId = projectId;
    this.message = message;
    this.onChange = onChange;
  }

  async load() {
    const { releases } = await api("GET", `/api/projects/${encodeURIComponent(this.projectId)}/releases`);
    const next = releases.length ? Math.max(...releases.map((r) => r.version)) + 1 : 1;
    $("#releases").replaceChildren(...releases.map((r) => this.row(r, next)));
    if (releases.length === 0) $("#releases").append(el("tr", {}, el("td", { colspan: 4, class: "hint", text: "No release yet." })));
  }

  row(release, next) {
    const label = `v${release.version}${release.current ? " (current)" : ""}`;
    const cause = release.commit ? `${release.cause} · ${release.commit.slice(0, 8)}` : release.cause;
    const cell = el("td", { class: "actions" });
    if (!release.current) {
      const what = `Makes v${next} from v${release.version}'s image and config vars and switches to it`;
      const button = el("button", { type: "button", title: what, "aria-describedby": "rollback-hint",
        "data-version": release.version, text: `Roll back to v${release.version}` });
      button.addEventListener("click", () => this.click(button, release.version, what));
      cell.append(button);
    }
    return el("tr", { "data-version": release.version }, el("td", { text: label }),
      el("td", { text: cause }), el("td", { text: when(release.created_at) }), cell);
  }

  async click(button, version, what) {
    if (button.dataset.armed !== "true") {  // the first press says what it will do
      button.dataset.armed = "true";
      setText(button, `Confirm: roll back to v${version}`);
      say(this.message, `${what}. Press again to confirm.`);
      return;
    }
    button.disabled = true;
    say(this.message, `rolling back to v${version}…`);
    try {
      const answer = await api("POST", `/api/projects/${encodeURIComponent(this.projectId)}/rollback`, { version });
      say(this.message, answer.message, "ok");
      await this.load();
      this.onChange();
    } catch (err) {
      say(this.message, err.message, "error");
      button.disabled = false;
    }
  }
}
