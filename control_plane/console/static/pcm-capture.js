// AudioWorklet processor: microphone audio at the context's `sampleRate` → mono 16-bit PCM at the
// target rate, posted in chunks of `chunkSamples` (each chunk's ArrayBuffer is transferred).
// Resampling is a windowed-sinc low-pass evaluated at each output instant, so any input rate works.

const HALF_WIDTH_OUTPUT_SAMPLES = 8; // kernel half-width, in output samples
const CUTOFF = 0.45; // of the target rate: below its Nyquist frequency

class PcmCapture extends AudioWorkletProcessor {
  constructor({ processorOptions }) {
    super();
    this.step = sampleRate / processorOptions.targetRate; // input samples per output sample
    this.cutoff = (CUTOFF * processorOptions.targetRate) / sampleRate; // cycles per input sample
    this.halfWidth = Math.ceil(HALF_WIDTH_OUTPUT_SAMPLES * Math.max(1, this.step)); // input samples
    this.chunkSamples = processorOptions.chunkSamples;
    this.input = new Float32Array(0);
    this.next = this.halfWidth; // position of the next output sample in `input`
    this.chunk = new Int16Array(this.chunkSamples);
    this.filled = 0;
  }

  append(block) {
    const merged = new Float32Array(this.input.length + block.length);
    merged.set(this.input);
    merged.set(block, this.input.length);
    this.input = merged;
  }

  sampleAt(position) {
    const first = Math.ceil(position - this.halfWidth);
    const last = Math.floor(position + this.halfWidth);
    let sum = 0;
    for (let index = first; index <= last; index++) {
      const offset = index - position;
      const window = 0.5 + 0.5 * Math.cos((Math.PI * offset) / this.halfWidth);
      const argument = 2 * Math.PI * this.cutoff * offset;
      const sinc = argument === 0 ? 1 : Math.sin(argument) / argument;
      sum += this.input[index] * 2 * this.cutoff * sinc * window;
    }
    return sum;
  }

  emit(value) {
    this.chunk[this.filled++] = Math.max(-32768, Math.min(32767, Math.round(value * 32767)));
    if (this.filled === this.chunkSamples) {
      this.port.postMessage(this.chunk.buffer, [this.chunk.buffer]);
      this.chunk = new Int16Array(this.chunkSamples);
      this.filled = 0;
    }
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels.length > 0) {
      const mono = new Float32Array(channels[0].length);
      for (const channel of channels) {
        for (let index = 0; index < mono.length; index++) mono[index] += channel[index] / channels.length;
      }
      this.append(mono);
    }
    while (this.next + this.halfWidth < this.input.length) {
      this.emit(this.sampleAt(this.next));
      this.next += this.step;
    }
    const consumed = Math.max(0, Math.floor(this.next - this.halfWidth) - 1);
    this.input = this.input.subarray(consumed);
    this.next -= consumed;
    return true;
  }
}

registerProcessor("pcm-capture", PcmCapture);
