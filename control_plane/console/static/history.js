// History view: recent live sessions and jobs, each a link to its detail view.

import { apiJson } from "./api.js";
import { element, formatDate, showError } from "./ui.js";

const LIMIT = 20;

function entry(href, title, details) {
  const link = element("a", "", title);
  link.href = href;
  return element("li", "", link, element("span", "details", details));
}

function snippet(text) {
  return text && text.length > 80 ? `${text.slice(0, 80)}…` : text || "";
}

export async function showHistory() {
  const sessionList = document.getElementById("history-sessions");
  const jobList = document.getElementById("history-jobs");
  try {
    const [{ sessions }, { jobs }] = await Promise.all([
      apiJson(`/v1/audio/transcriptions/stream?limit=${LIMIT}`),
      apiJson(`/v1/audio/transcriptions?limit=${LIMIT}`),
    ]);
    sessionList.replaceChildren(...sessions.map((session) => entry(
      `#session/${session.id}`,
      `${formatDate(session.created_at)} · ${session.status} · ${session.total_audio_seconds.toFixed(1)} s`,
      snippet(session.transcript),
    )));
    jobList.replaceChildren(...jobs.map((job) => entry(
      `#job/${job.id}`,
      `${formatDate(job.created_at)} · ${job.status} · ${job.source}`,
      job.status === "completed" ? snippet(job.text) : job.current_stage ?? "",
    )));
    if (!sessions.length) sessionList.replaceChildren(element("li", "empty", "No sessions yet."));
    if (!jobs.length) jobList.replaceChildren(element("li", "empty", "No jobs yet."));
  } catch (error) {
    showError(error);
  }
}
