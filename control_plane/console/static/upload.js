// Upload view: pick or drop a file, submit it as a job, then open the job (its progress follows).
// `onUploaded(jobId, file)` is told first, so the job's view can play the file it was made from.

import { apiJson } from "./api.js";
import { showError } from "./ui.js";

export class UploadView {
  constructor(onUploaded) {
    this.onUploaded = onUploaded;
    this.form = document.getElementById("upload-form");
    this.fileInput = document.getElementById("upload-file");
    this.dropZone = document.getElementById("drop-zone");
    this.label = document.getElementById("drop-label");
    this.submit = document.getElementById("upload-submit");
    this.fileInput.addEventListener("change", () => this.showChosen());
    this.dropZone.addEventListener("dragover", (event) => {
      event.preventDefault();
      this.dropZone.classList.add("dragging");
    });
    this.dropZone.addEventListener("dragleave", () => this.dropZone.classList.remove("dragging"));
    this.dropZone.addEventListener("drop", (event) => {
      event.preventDefault();
      this.dropZone.classList.remove("dragging");
      if (event.dataTransfer.files.length) {
        this.fileInput.files = event.dataTransfer.files;
        this.showChosen();
      }
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.upload();
    });
  }

  showChosen() {
    const file = this.fileInput.files[0];
    this.label.textContent = file ? `${file.name} (${(file.size / 1e6).toFixed(1)} MB)` : "Choose an audio file, or drop one here";
  }

  async upload() {
    const form = new FormData(this.form);
    if (!form.get("num_speakers")) form.delete("num_speakers");
    this.submit.disabled = true;
    this.submit.textContent = "Uploading…";
    try {
      const job = await apiJson("/v1/audio/transcriptions", { method: "POST", body: form });
      this.onUploaded(job.id, form.get("file"));
      location.hash = `#job/${job.id}`;
    } catch (error) {
      showError(error);
    } finally {
      this.submit.disabled = false;
      this.submit.textContent = "Transcribe";
    }
  }
}
