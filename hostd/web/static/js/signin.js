// Sign in, or register then sign in; then back to where the user was going.
import { currentSession, register, signIn } from "./api.js";
import { $, say, setText } from "./dom.js";
import { safeNext } from "./nav.js";

function next() {
  return safeNext(new URLSearchParams(location.search).get("next"));
}

function toggle() {
  const registering = $("#register-form").hidden;
  $("#register-form").hidden = !registering;
  $("#signin-form").hidden = registering;
  setText($("#title"), registering ? "Create an account" : "Sign in");
  setText($("#switch"), registering ? "Have an account? Sign in" : "New here? Create an account");
  say($("#message"), "");
  (registering ? $("#register-form") : $("#signin-form")).querySelector("input").focus();
}

async function submit(form, action) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  say($("#message"), "");
  try {
    const data = Object.fromEntries(new FormData(form));
    await action(data);
    location.assign(next());
  } catch (err) {
    say($("#message"), err.message, "error");
    button.disabled = false;
  }
}

$("#switch").addEventListener("click", toggle);
$("#signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  submit(event.target, (d) => signIn(d.email, d.password));
});
$("#register-form").addEventListener("submit", (event) => {
  event.preventDefault();
  submit(event.target, (d) => register(d.email, d.password, d.name));
});
if (location.hash === "#register") toggle();
currentSession().then((user) => { if (user) location.replace(next()); }).catch(() => {});
$("#signin-form input").focus();
