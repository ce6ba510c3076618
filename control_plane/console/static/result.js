// The result panel: a job's progress, then its enhanced transcript, the recording and the exports.

import { ApiError, blobUrl, download, serverEvents } from "./api.js";
import { seekOnSelect, showTranscript } from "./transcript.js";
import { showError } from "./ui.js";

const JOBS = "/v1/audio/transcriptions";

export class ResultPanel {
  constructor(container) {
    container.replaceChildren(document.getElementById("result-template").content.cloneNode(true));
    this.status = container.querySelector(".result-status");
    this.progress = container.querySelector("progress");
    this.audio = container.querySelector("audio");
    this.transcript = container.querySelector(".enhanced-transcript");
    this.exports = container.querySelector(".exports");
    this.jobId = null;
    seekOnSelect(this.transcript, this.audio);
    this.exports.addEventListener("click", (event) => {
      const format = event.target.dataset?.format;
      if (format && this.jobId) {
        download(`${JOBS}/${this.jobId}/export/${format}`, `${this.jobId}.${format}`).catch(showError);
      }
    });
  }

  /** Empty the panel for a new session or job. */
  reset(message = "") {
    this.jobId = null;
    this.status.textContent = message;
    this.progress.hidden = true;
    this.progress.value = 0;
    this.transcript.replaceChildren();
    this.exports.hidden = true;
    if (this.audio.src.startsWith("blob:")) URL.revokeObjectURL(this.audio.src);
    this.audio.removeAttribute("src");
    this.audio.hidden = true;
  }

  /** The job's progress (integer percent) and the stage it is in. */
  showProgress(progress, stage) {
    this.progress.hidden = false;
    this.progress.value = progress;
    this.status.textContent = `Enhancing: ${progress}%${stage ? ` (${stage})` : ""}`;
  }

  /** The completed job's transcript with its speakers, and its exports. */
  showCompleted(jobId, transcript) {
    this.jobId = jobId;
    this.progress.hidden = true;
    const speakers = transcript.speakers.length;
    this.status.textContent = `Done: ${transcript.segments.length} lines, ${speakers} speaker${speakers === 1 ? "" : "s"}.`;
    showTranscript(this.transcript, transcript);
    this.exports.hidden = false;
  }

  showFailed(message) {
    this.progress.hidden = true;
    this.status.textContent = `Failed: ${message}`;
  }

  /** Play `url` (an object URL: the panel revokes it when reset). */
  showAudio(url) {
    this.audio.src = url;
    this.audio.hidden = false;
  }

  /** Load the audio behind `path` into the player (fetched with the key, so it works with auth on). */
  async loadAudio(path) {
    try {
      this.showAudio(await blobUrl(path));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) showError(error);
    }
  }

  /** Follow job `jobId` through its SSE stream until it finishes; the final job body is returned. */
  async follow(jobId) {
    this.jobId = null;
    this.showProgress(0, null);
    for await (const { event, data } of serverEvents(`${JOBS}/${jobId}/events`)) {
      if (event === "progress") this.showProgress(data.progress, data.current_stage);
      else if (event === "completed") this.showCompleted(jobId, data);
      else this.showFailed(data.error || event);
      if (event !== "progress") return data;
    }
    return null;
  }
}
