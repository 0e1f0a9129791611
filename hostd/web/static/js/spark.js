// A sparkline: an SVG polyline of the last samples, drawn in a box of a fixed size.
const NS = "http://www.w3.org/2000/svg";
export const HISTORY = 45;  // samples kept: 3 minutes at the default 4 s interval
const W = 90, H = 20;

export function sparkline(label) {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const line = document.createElementNS(NS, "polyline");
  svg.append(line);
  return svg;
}

export function drawSparkline(svg, values) {
  const line = svg.firstChild;
  if (values.length === 0) { line.setAttribute("points", ""); return; }
  const top = Math.max(...values, 1e-9);
  const step = W / (HISTORY - 1);
  const offset = (HISTORY - values.length) * step;
  const points = values.map((v, i) =>
    `${(offset + i * step).toFixed(1)},${(H - 1 - (v / top) * (H - 2)).toFixed(1)}`);
  line.setAttribute("points", points.join(" "));
}
