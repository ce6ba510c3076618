// The console's entry point: views switched by the URL's hash; `?live=1[&seconds=N]` starts recording at once.

import { DetailView } from "./detail.js";
import { showHistory } from "./history.js";
import { LiveView } from "./live.js";
import { UploadView } from "./upload.js";

const live = new LiveView();
const detail = new DetailView();
new UploadView((jobId, file) => detail.rememberUpload(jobId, file));

function showView(name) {
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function route() {
  const [view, id] = location.hash.slice(1).split("/");
  if (view === "job" && id) {
    showView("detail");
    detail.openJob(decodeURIComponent(id));
  } else if (view === "session" && id) {
    showView("detail");
    detail.openSession(decodeURIComponent(id));
  } else if (view === "upload" || view === "history") {
    showView(view);
    if (view === "history") showHistory();
  } else {
    showView("live");
  }
}

window.addEventListener("hashchange", route);
route();

const query = new URLSearchParams(location.search);
if (query.get("live") === "1") {
  const seconds = Number(query.get("seconds"));
  showView("live");
  live.start(seconds > 0 ? seconds : null);
}
