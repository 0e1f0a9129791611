// What every signed-in page has: the header with the user's name and "Sign out".
import { signOut } from "./api.js";
import { $, setText } from "./dom.js";

export function showUser(user) {
  setText($("#who"), user.name);
  $("#who").title = user.email;
  const button = $("#sign-out");
  button.hidden = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try { await signOut(); } finally { location.assign("/signin"); }
  });
}
