// Transcript lines: "SPEAKER_00: text" (or the speaker's name) followed by the line's times.

import { element, formatTime } from "./ui.js";

const SPEAKER_COLOURS = 4; // console.css colours speakers 0-3, then again

/** One `<li class="segment">`: its text starts with the speaker's label when there is one. */
export function segmentLine({ speaker, text, start, end }) {
  const line = element("li", "segment");
  line.dataset.start = String(start);
  if (speaker) {
    line.dataset.speaker = speaker;
    line.append(element("span", "speaker", `${speaker}:`), " ");
  }
  line.append(element("span", "text", text), " ", element("span", "time", `${formatTime(start)}–${formatTime(end)}`));
  return line;
}

/** Fill `list` with the enhanced transcript's segments, each labelled by its speaker's name or id. */
export function showTranscript(list, transcript) {
  const names = new Map(transcript.speakers.map((speaker) => [speaker.id, speaker.name || speaker.id]));
  const order = transcript.speakers.map((speaker) => speaker.id);
  list.replaceChildren(...transcript.segments.map((segment) => {
    const line = segmentLine({ ...segment, speaker: names.get(segment.speaker) ?? segment.speaker });
    if (segment.speaker) line.dataset.speaker = segment.speaker; // the id (SPEAKER_00), also where a name is shown
    line.dataset.speakerIndex = String(order.indexOf(segment.speaker) % SPEAKER_COLOURS);
    line.tabIndex = 0;
    line.title = "Play from here";
    return line;
  }));
}

/** Clicking a line of `list` (or Enter/Space on it) plays `audio` from the line's start. */
export function seekOnSelect(list, audio) {
  const play = (line) => {
    if (!line || audio.hidden) return;
    audio.currentTime = Number(line.dataset.start);
    audio.play().catch(() => {}); // playing may be refused without a gesture; the position is set anyway
  };
  list.addEventListener("click", (event) => play(event.target.closest(".segment")));
  list.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    play(event.target.closest(".segment"));
  });
}
