// Navigation targets a page was given (`?next=`): pure, so it is tested on its own.

// Where to go after: `next` only if it is a page of this origin. Parsed as the browser
// will navigate to it (URL strips tabs and newlines and reads `\` as `/`), so `/\evil`,
// `//evil`, `https:evil` and any absolute URL elsewhere are refused: never a redirect away.
export function safeNext(target, here = location) {
  try {
    const url = new URL(target || "/", here.origin);
    // The whole URL, not its path: a path like `//evil` (from `/.//evil`) is a host.
    if (url.origin === here.origin && (url.protocol === "http:" || url.protocol === "https:")) {
      return url.href;
    }
  } catch { /* not a URL */ }
  return new URL("/", here.origin).href;
}
