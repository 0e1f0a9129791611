// A deploy shown live: its steps (from the project's `deploy_step`, as the event stream
// tells it) and its build log (followed).
import { el, link, setText } from "./dom.js";
import { followLog } from "./events.js";

// [key, what the row says, the deploy_step names (hostd.control.steps) it stands for]
const STEPS = [
  ["queued", "queued", ["queued"]],
  ["clone", "cloning the repository", ["clone", "unpack"]],
  ["build", "building the image", ["build"]],
  ["release", "running the release command", ["release"]],
  ["run", "starting the container", ["run"]],
  ["health", "waiting for the app to answer", ["health_check"]],
  ["running", "running", ["switch"]],
];
const MAX_LINES = 2000;

export function appendLine(pre, line) {
  pre.append(`${line}\n`);  // a text node: a line with HTML in it shows as text
  while (pre.childNodes.length > MAX_LINES) pre.firstChild.remove();
  if (pre.dataset.follow !== "off") pre.scrollTop = pre.scrollHeight;
}

export class DeployPanel {
  constructor(root) {
    this.root = root;
    this.title = root.querySelector("h3");
    this.steps = root.querySelector("ol");
    this.log = root.querySelector("pre");
    this.stream = null;
    this.projectId = null;
  }

  show(project) {
    this.stream?.close();
    this.projectId = project.id;
    this.root.hidden = false;
    setText(this.title, `Deploying ${project.name}`);
    this.steps.replaceChildren(...STEPS.map(([key, text]) => el("li", { "data-step": key, text })));
    this.log.replaceChildren();
    this.mark(0, "active");
    this.follow(0);
  }

  follow(attempt) {
    this.stream = followLog(this.projectId, "build", 1000, (line) => appendLine(this.log, line),
      (reason) => {
        if (reason === "the log stream closed" && attempt < 3 && this.log.childNodes.length === 0) {
          setTimeout(() => this.follow(attempt + 1), 500);  // no deployment recorded yet
        }
      });
  }

  // A status_changed event of the project being deployed.
  update(data) {
    if (data.projectId !== this.projectId) return;
    if (data.status === "running" && !data.deploying && !data.deploy_step) {
      this.mark(STEPS.length - 1, "done");
      setText(this.title, "Deployed: running");
      if (data.url) this.title.append(" at ", link(data.url));
      return;
    }
    if (data.status === "error") {
      const active = this.steps.querySelector("[data-state=active]");
      if (active) active.dataset.state = "failed";
      setText(this.title, `Deploy failed: ${data.status_reason || "see the build log"}`);
      return;
    }
    const index = STEPS.findIndex(([, , names]) => names.includes(data.deploy_step));
    if (index >= 0) this.mark(index, "active");
  }

  mark(index, state) {
    [...this.steps.children].forEach((li, i) => {
      li.dataset.state = i < index ? "done" : i === index ? state : "todo";
    });
  }
}
