// Detail view: one job or one live session opened from History (or a fresh upload).

import { apiJson } from "./api.js";
import { ResultPanel } from "./result.js";
import { formatDate, showError } from "./ui.js";

const SESSIONS = "/v1/audio/transcriptions/stream";
const JOBS = "/v1/audio/transcriptions";

export class DetailView {
  constructor() {
    this.title = document.getElementById("detail-title");
    this.liveColumn = document.getElementById("detail-live");
    this.liveText = document.getElementById("detail-live-text");
    this.result = new ResultPanel(document.getElementById("detail-result"));
    this.shown = 0; // which open() is current: a late answer for an earlier one is dropped
    this.uploads = new Map(); // job id → the file uploaded in this page (the server keeps no playable copy)
  }

  rememberUpload(jobId, file) {
    this.uploads.set(jobId, file);
  }

  begin(title) {
    this.title.textContent = title;
    this.liveColumn.hidden = true;
    this.result.reset("Loading…");
    return ++this.shown;
  }

  async openJob(jobId) {
    const shown = this.begin(`Job ${jobId}`);
    try {
      const job = await apiJson(`${JOBS}/${jobId}`);
      if (shown !== this.shown) return;
      this.title.textContent = `Job ${jobId} · ${formatDate(job.created_at)}`;
      if (job.session_id) await this.result.loadAudio(`${SESSIONS}/${job.session_id}/audio`);
      else if (this.uploads.has(jobId)) this.result.showAudio(URL.createObjectURL(this.uploads.get(jobId)));
      await this.showJob(job, shown);
    } catch (error) {
      showError(error);
    }
  }

  async openSession(sessionId) {
    const shown = this.begin(`Session ${sessionId}`);
    try {
      const session = await apiJson(`${SESSIONS}/${sessionId}`);
      if (shown !== this.shown) return;
      this.title.textContent = `Session ${sessionId} · ${formatDate(session.created_at)} · ${session.status}`;
      this.liveColumn.hidden = false;
      this.liveText.textContent = session.transcript || "(no speech)";
      if (session.audio_uri) await this.result.loadAudio(`${SESSIONS}/${sessionId}/audio`);
      if (!session.enhancement_job_id) {
        this.result.status.textContent = "Not enhanced.";
        return;
      }
      await this.showJob(await apiJson(`${JOBS}/${session.enhancement_job_id}`), shown);
    } catch (error) {
      showError(error);
    }
  }

  /** A finished job's result at once; a running one followed through its events. */
  async showJob(job, shown) {
    if (shown !== this.shown) return;
    if (job.status === "completed") this.result.showCompleted(job.id, job);
    else if (job.status === "failed" || job.status === "cancelled") this.result.showFailed(job.error || job.status);
    else await this.result.follow(job.id);
  }
}
