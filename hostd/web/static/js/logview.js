// The project page's log: runtime or build, followed live; a runtime log that ends (the
// container stopped or was replaced) is followed again when the project runs again.
import { $, setText } from "./dom.js";
import { appendLine } from "./deploypanel.js";
import { followLog } from "./events.js";

export class LogView {
  constructor(projectId) {
    this.projectId = projectId;
    this.pre = $("#log");
    this.state = $("#log-state");
    this.source = "runtime";
    this.stream = null;
    this.ended = true;
    for (const button of document.querySelectorAll("[data-log]")) {
      button.addEventListener("click", () => this.show(button.dataset.log));
    }
  }

  show(source) {
    this.source = source;
    for (const button of document.querySelectorAll("[data-log]")) {
      button.setAttribute("aria-pressed", String(button.dataset.log === source));
    }
    this.follow();
  }

  follow() {
    this.stream?.close();
    this.pre.replaceChildren();
    this.ended = false;
    setText(this.state, "following…");
    // A runtime line after its process (web.1, worker.1), as `hostctl projects logs` shows it.
    this.stream = followLog(this.projectId, this.source, 200,
      (line, process) => appendLine(this.pre, process ? `${process} | ${line}` : line),
      (reason) => { this.ended = true; setText(this.state, `ended: ${reason}`); });
  }

  // The project's status changed: a runtime log that ended picks up the new container.
  statusChanged(status) {
    if (this.source === "runtime" && this.ended && status === "running") this.follow();
  }
}
