// Config vars: names shown, values hidden until revealed; set, change and remove.
import { api } from "./api.js";
import { $, el, say, setText } from "./dom.js";

const HIDDEN = "••••••••";

export class VarsView {
  // changed(): called after a change is stored (a running project has a new release then).
  constructor(projectId, message, changed = () => {}) {
    this.path = `/api/projects/${encodeURIComponent(projectId)}/env`;
    this.message = message;
    this.changed = changed;
    $("#var-form").addEventListener("submit", (event) => this.submit(event));
  }

  async load() {
    const { env } = await api("GET", this.path);
    this.render(env);
  }

  render(env) {
    const names = Object.keys(env).sort();
    $("#vars").replaceChildren(...names.map((name) => this.row(name, env[name])));
    if (names.length === 0) $("#vars").append(el("tr", {}, el("td", { colspan: 3, class: "hint", text: "None yet." })));
  }

  row(name, value) {
    const shown = el("span", { class: "value", text: HIDDEN });
    const reveal = el("button", { type: "button", "aria-label": `Reveal ${name}`, text: "Reveal" });
    reveal.addEventListener("click", () => {
      const hidden = shown.textContent === HIDDEN;
      setText(shown, hidden ? value : HIDDEN);
      setText(reveal, hidden ? "Hide" : "Reveal");
      reveal.setAttribute("aria-label", `${hidden ? "Hide" : "Reveal"} ${name}`);
    });
    const edit = el("button", { type: "button", "aria-label": `Edit ${name}`, text: "Edit" });
    edit.addEventListener("click", () => {
      const form = $("#var-form");
      form.elements.name.value = name;
      form.elements.value.value = value;
      form.elements.value.focus();
    });
    const remove = el("button", { type: "button", class: "danger", "aria-label": `Remove ${name}`, text: "Remove" });
    remove.addEventListener("click", () => this.change({ [name]: null }, `${name} removed`));
    return el("tr", { "data-name": name }, el("td", { text: name }), el("td", {}, shown),
      el("td", { class: "actions" }, reveal, edit, remove));
  }

  async submit(event) {
    event.preventDefault();
    const form = event.target;
    if (!form.reportValidity()) return;
    const name = form.elements.name.value;
    if (await this.change({ [name]: form.elements.value.value }, `${name} saved`)) form.reset();
  }

  async change(env, done) {
    const buttons = document.querySelectorAll("#vars button, #var-form button");
    buttons.forEach((b) => { b.disabled = true; });
    say(this.message, "saving the config vars…");
    try {
      const answer = await api("PATCH", this.path, { env });
      this.render(answer.env);
      say(this.message, `${done}: ${answer.message}`, "ok");
      this.changed();
      return true;
    } catch (err) {
      say(this.message, err.message, "error");
      return false;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }
}
