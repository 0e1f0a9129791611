// Numbers for cells of a fixed width: the same characters for the same magnitude, so a
// tick of the metrics never moves the layout (with tabular-nums in the CSS).

export function percent(value) {
  return typeof value === "number" ? `${value.toFixed(1)}%` : "–";
}

export function megabytes(value) {
  return typeof value === "number" ? `${value.toFixed(1)} MB` : "–";
}

export function rate(value) {
  return typeof value === "number" ? `${value.toFixed(value < 10 ? 2 : 1)}/s` : "–";
}

export function release(value) {
  return typeof value === "number" ? `v${value}` : "–";
}

export function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}
