// Small DOM helpers shared by the views: elements, times, the notice line for errors.

/** `<tag class=className>` holding `children` (strings or nodes). */
export function element(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

/** Seconds as `m:ss.s`. */
export function formatTime(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${(seconds - minutes * 60).toFixed(1).padStart(4, "0")}`;
}

/** A date-time string of the API in the reader's locale. */
export function formatDate(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

const notice = () => document.getElementById("notice");

/** Show an error plainly: the server's code (capacity, invalid_audio, unauthorized, ...) and its message. */
export function showError(error) {
  const code = error.code ? `${error.code}: ` : "";
  notice().textContent = `Error — ${code}${error.message}`;
  notice().className = "error";
  notice().hidden = false;
}

/** Show a warning or information line. */
export function showInfo(message) {
  notice().textContent = message;
  notice().className = "info";
  notice().hidden = false;
}

export function clearNotice() {
  notice().hidden = true;
  notice().textContent = "";
}
