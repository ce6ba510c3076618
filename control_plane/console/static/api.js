// The server's API as the page uses it: REST with the optional key, tokens for sockets, SSE over fetch.

const KEY_ITEM = "tandem.apiKey";

/** An error answer of the API: its HTTP status and SPEC's `{"error": {code, message}}`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

let pendingKeyPrompt = null;

/** Ask for an API key (once for all callers waiting at the same time); resolves to the key or null. */
export function askForKey(reason) {
  pendingKeyPrompt ??= new Promise((resolve) => {
    const dialog = document.getElementById("key-dialog");
    const input = dialog.querySelector("input[name=key]");
    dialog.querySelector(".reason").textContent = reason;
    input.value = "";
    dialog.returnValue = "";
    dialog.addEventListener("close", () => {
      const key = dialog.returnValue === "save" ? input.value.trim() : "";
      if (key) sessionStorage.setItem(KEY_ITEM, key);
      pendingKeyPrompt = null;
      resolve(key || null);
    }, { once: true });
    dialog.showModal();
  });
  return pendingKeyPrompt;
}

async function errorOf(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || "request failed";
  try {
    const body = await response.json();
    code = body.error?.code ?? code;
    message = body.error?.message ?? body.detail ?? message;
  } catch {
    // not a JSON body: keep the status line
  }
  return new ApiError(response.status, code, message);
}

/** `fetch` with `Authorization: Bearer <key>` when a key is set; a 401 asks for a key and retries. */
export async function apiFetch(path, options = {}) {
  for (;;) {
    const headers = new Headers(options.headers);
    const key = apiKey();
    if (key) headers.set("Authorization", `Bearer ${key}`);
    const response = await fetch(path, { ...options, headers });
    if (response.ok) return response;
    const error = await errorOf(response);
    if (response.status !== 401) throw error;
    sessionStorage.removeItem(KEY_ITEM);
    if (!(await askForKey(`The server asks for an API key: ${error.message}`))) throw error;
  }
}

export async function apiJson(path, options) {
  return (await apiFetch(path, options)).json();
}

/** The ws(s):// URL of `path` with `params`; with a key set, a short-lived `token` from `POST /v1/tokens`. */
export async function socketUrl(path, params) {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, String(value));
  if (apiKey()) {
    try {
      const { token } = await apiJson("/v1/tokens", { method: "POST" });
      url.searchParams.set("token", token);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error; // 404: a server without auth
    }
  }
  return url;
}

/** Server-Sent Events of `path` as `{event, data}` (data parsed as JSON); fetch carries the key, EventSource cannot. */
export async function* serverEvents(path, signal) {
  const response = await apiFetch(path, { headers: { Accept: "text/event-stream" }, signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let boundary;
    while ((boundary = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

/** An object URL for what `path` answers (audio, exports), fetched with the key. */
export async function blobUrl(path) {
  return URL.createObjectURL(await (await apiFetch(path)).blob());
}

/** Save what `path` answers as `filename`. */
export async function download(path, filename) {
  const link = Object.assign(document.createElement("a"), { href: await blobUrl(path), download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}
