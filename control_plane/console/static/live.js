// Live view: microphone → AudioWorklet (16 kHz s16le) → the live socket; partials, finals, then the
// enhancement's progress and the enhanced transcript pushed on the same socket (`enhance_wait`).

import { askForKey, socketUrl } from "./api.js";
import { ResultPanel } from "./result.js";
import { segmentLine } from "./transcript.js";
import { clearNotice, element, showError, showInfo } from "./ui.js";

const STREAM_PATH = "/v1/audio/transcriptions/stream";
const SAMPLE_RATE = 16000;
const CHUNK_SAMPLES = 1600; // 100 ms frames
const SESSION_PARAMS = {
  encoding: "pcm_s16le",
  sample_rate: SAMPLE_RATE,
  interim_results: true,
  word_timestamps: true,
  store_audio: true,
  enhance_on_end: true,
  enhance_wait: true,
  diarize: true, // provisional live speakers where the server has them (an unknown parameter is ignored)
};
const UNAUTHORIZED_CLOSE = 4401;

class MicrophoneError extends Error {
  code = "microphone";
}

/** The microphone as 16 kHz PCM chunks posted by the `pcm-capture` worklet to `onChunk`. */
class Microphone {
  async open(onChunk) {
    if (!window.isSecureContext || !navigator.mediaDevices) {
      throw new MicrophoneError("the microphone needs a secure page: open the console over https:// or on localhost");
    }
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    this.context = new AudioContext();
    await this.context.audioWorklet.addModule("/console/pcm-capture.js");
    this.node = new AudioWorkletNode(this.context, "pcm-capture", {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      processorOptions: { targetRate: SAMPLE_RATE, chunkSamples: CHUNK_SAMPLES },
    });
    this.node.port.onmessage = (event) => onChunk(event.data);
    this.context.createMediaStreamSource(this.stream).connect(this.node);
    if (this.context.state === "suspended") await this.context.resume();
  }

  close() {
    this.node?.port.close();
    this.stream?.getTracks().forEach((track) => track.stop());
    this.context?.close().catch(() => {});
    this.stream = this.context = this.node = null;
  }
}

export class LiveView {
  constructor() {
    this.recordButton = document.getElementById("record");
    this.stopButton = document.getElementById("stop");
    this.status = document.getElementById("live-status");
    this.lines = document.getElementById("live-transcript");
    this.partial = document.getElementById("live-partial");
    this.result = new ResultPanel(document.getElementById("live-result"));
    this.microphone = null;
    this.socket = null;
    this.unsent = []; // audio captured before the session began
    this.enhancementJobId = null; // announced by session.end, until its result arrives
    this.began = false;
    this.stopTimer = null;
    this.unauthorized = false;
    this.recordButton.addEventListener("click", () => this.start());
    this.stopButton.addEventListener("click", () => this.stop());
  }

  get recording() {
    return this.microphone !== null;
  }

  /** Open the microphone and a session; with `seconds`, stop after that many seconds of session. */
  async start(seconds = null) {
    if (this.socket) return;
    clearNotice();
    this.recordButton.disabled = true;
    this.lines.replaceChildren();
    this.partial.replaceChildren();
    this.result.reset();
    this.enhancementJobId = null;
    this.status.textContent = "Opening the microphone…";
    try {
      this.microphone = new Microphone();
      this.unsent = [];
      this.began = false;
      await this.microphone.open((chunk) => this.send(chunk));
      this.socket = new WebSocket(await socketUrl(STREAM_PATH, SESSION_PARAMS));
    } catch (error) {
      this.finish();
      showError(error.name === "NotAllowedError" ? new MicrophoneError("microphone access was denied") : error);
      return;
    }
    this.socket.binaryType = "arraybuffer";
    this.socket.onmessage = (event) => this.receive(JSON.parse(event.data), seconds);
    this.socket.onclose = (event) => this.closed(event, seconds);
    this.stopButton.disabled = false;
    this.stopButton.focus();
  }

  send(chunk) {
    if (!this.recording) return;
    if (this.began && this.socket.readyState === WebSocket.OPEN) this.socket.send(chunk);
    else if (!this.began) this.unsent.push(chunk);
  }

  /** End the session: the microphone closes, the server finalizes and (with enhancement) keeps the socket open. */
  stop() {
    clearTimeout(this.stopTimer);
    if (!this.recording) return;
    this.microphone.close();
    this.microphone = null;
    this.stopButton.disabled = true;
    this.status.textContent = "Finishing the session…";
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: "end" }));
  }

  finish() {
    clearTimeout(this.stopTimer);
    this.microphone?.close();
    this.microphone = null;
    this.socket = null;
    this.stopButton.disabled = true;
    this.recordButton.disabled = false;
  }

  receive(message, seconds) {
    switch (message.type) {
      case "session.begin":
        this.status.textContent = `Listening (session ${message.session_id})`;
        this.began = true;
        this.unsent.splice(0).forEach((chunk) => this.socket.send(chunk));
        if (seconds) this.stopTimer = setTimeout(() => this.stop(), seconds * 1000);
        break;
      case "transcript.partial": {
        const stable = message.stable_text ?? "";
        const tentative = message.text.startsWith(stable) ? message.text.slice(stable.length) : message.text;
        this.partial.replaceChildren(stable, element("span", "tentative", tentative));
        break;
      }
      case "transcript.final":
        this.partial.replaceChildren();
        this.lines.append(segmentLine(message));
        break;
      case "warning":
        showInfo(`Warning — ${message.code}: ${message.message}`);
        break;
      case "error":
        showError(message);
        if (message.code === "unauthorized") this.unauthorized = true;
        break;
      case "session.end":
        this.status.textContent = `Session ${message.session_id} ended: ${message.total_audio_seconds.toFixed(1)} s of audio.`;
        this.partial.replaceChildren();
        if (message.audio_uri) this.result.loadAudio(`${STREAM_PATH}/${message.session_id}/audio`);
        this.enhancementJobId = message.enhancement_job_id;
        if (message.enhancement_job_id) this.result.showProgress(0, null);
        break;
      case "enhancement.progress":
        this.result.showProgress(message.progress, message.current_stage);
        break;
      case "enhancement.completed":
        this.enhancementJobId = null;
        this.result.showCompleted(message.enhancement_job_id, message.transcript);
        break;
      case "enhancement.failed":
        this.enhancementJobId = null;
        this.result.showFailed(message.error);
        break;
      default:
        break; // vad.speech_start / vad.speech_end: nothing to show
    }
  }

  async closed(event, seconds) {
    const wasRecording = this.recording;
    this.finish();
    if (event.code === UNAUTHORIZED_CLOSE || this.unauthorized) {
      this.unauthorized = false;
      if (wasRecording && await askForKey("Live transcription needs an API key.")) await this.start(seconds);
      return;
    }
    if (this.enhancementJobId) { // the socket closed before the enhanced transcript came: follow the job instead
      const jobId = this.enhancementJobId;
      this.enhancementJobId = null;
      this.result.follow(jobId).catch(showError);
    }
    if (wasRecording && event.code !== 1000) {
      this.status.textContent = `The server closed the session (${event.code}${event.reason ? `: ${event.reason}` : ""}).`;
    }
  }
}
