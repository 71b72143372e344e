// Formatting of media time for the overlay.

// clock formats milliseconds as m:ss (negative and missing as 0:00).
export function clock(ms) {
  const s = Math.max(0, Math.floor((ms || 0) / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

// duration formats milliseconds as "3 min", or "90 s" (short) or
// "1 min 30 s" when they are not whole minutes.
export function duration(ms, short) {
  const s = Math.round(ms / 1000);
  if (s % 60 === 0) return `${s / 60} min`;
  return short ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
