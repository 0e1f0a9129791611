// Building the page: every piece of text goes in as a text node (textContent), never as
// HTML, so what a user or an app wrote (names, log lines, reasons) can only be text.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function setText(node, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

// A message in the page's live region (role=status or role=alert).
export function say(node, text, kind = "info") {
  node.dataset.kind = kind;
  setText(node, text);
}

// An http(s) link, or plain text for anything else (a javascript: URL is never a link).
export function link(url, text = url) {
  try {
    const parsed = new URL(url, location.href);
    if (parsed.protocol === "http:" || parsed.protocol === "https:") {
      return el("a", { href: parsed.href, rel: "noopener noreferrer", target: "_blank", text });
    }
  } catch { /* not a URL: shown as text */ }
  return el("span", { text });
}
