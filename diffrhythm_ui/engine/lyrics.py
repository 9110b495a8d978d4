"""Timed lyrics (LRC) for DiffRhythm: parse and validate them, or time plain lyrics automatically.

DiffRhythm places each lyric line's phonemes on the latent frame grid at the line's LRC timestamp
(DESIGN.md "DiffRhythm facts"). The official parser skips any line it cannot read and drops the last line in
95 s mode; here every problem is reported with its line number, and no lyric line is lost.

Rules of ``parse_lrc``:

- a lyric line is one or more timestamps ``[mm:ss]``, ``[mm:ss.x]``, ``[mm:ss.xx]`` or ``[mm:ss.xxx]`` then text;
  several timestamps (``[00:10.00][00:40.00]chorus``) make several lines;
- blank lines, LRC metadata tags (``[ti:...]``, ``[ar:...]``, ``[offset:...]``, ...) and section tags on a line
  of their own (``[chorus]``) are not lyrics and are skipped; ``[offset:...]`` is not applied;
- enhanced-LRC word times (``<00:12.34>``) inside the text are removed;
- the first timestamps of the lines must increase strictly in file order (a repeated chorus may add later
  times on its line), every time must be unique and earlier than the song's duration;
- text must have something to sing, only characters the G2P can pronounce, and at most ``MAX_LINE_CHARS``.

Empty lyrics (or only whitespace) are valid: an instrumental song.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from diffrhythm_ui.engine.g2p import char_kind, has_singable_text, unsupported_characters

# A line's phonemes take one latent frame each (about 21.5 per second) from the line's timestamp on, and push
# the next line back when they overrun it: 150 characters is already about 6 s of phonemes.
MAX_LINE_CHARS = 150
# Far more than a 285 s song can hold (a line needs about 1.5 s); stops pathological input early.
MAX_LINES = 400
MAX_TEXT_CHARS = 40_000
_MAX_LISTED = 8  # unsupported characters named per line

METADATA_TAGS = frozenset({"ti", "ar", "al", "au", "by", "offset", "length", "re", "ve", "tool", "la", "lr", "#"})
_SECTION_NAMES = (
    r"verse|pre[\s-]?chorus|post[\s-]?chorus|chorus|bridge|intro|outro|hook|refrain|interlude|instrumental"
    r"|break(?:down)?|solo|drop"
)
_SECTION_TAG = re.compile(
    rf"^[\[(]\s*(?:{_SECTION_NAMES})(?:[\s_-]*\d+)?\s*(?:[:\-][^\])]*)?[\])]$"  # [Verse 1], (Chorus), [Hook: X]
    rf"|^(?:{_SECTION_NAMES})(?:\s*\d+)?\s*:$",  # Verse 1:
    re.IGNORECASE,
)
_METADATA = re.compile(r"^\[\s*([A-Za-z#]+)\s*:[^\]]*\]$")
_BRACKET = re.compile(r"\s*\[([^\[\]]*)\]")
_TIME = re.compile(r"^(\d{1,3}):(\d{1,2})(?:\.(\d{1,3}))?$")
_WORD_TIME = re.compile(r"<\d{1,3}:\d{1,2}(?:\.\d{1,3})?>")


@dataclass(frozen=True)
class LyricLine:
    time: float  # seconds from the start of the song
    text: str
    line_number: int  # 1-based line of the LRC text it came from


@dataclass(frozen=True)
class LyricProblem:
    line_number: int  # 1-based; 0 for a problem of the whole text
    line: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.reason}" if self.line_number else f"lyrics: {self.reason}"


class LyricsError(ValueError):
    """The lyrics cannot be used; ``problems`` lists every bad line."""

    def __init__(self, problems: list[LyricProblem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        super().__init__(f"The lyrics have {count}:\n" + "\n".join(str(p) for p in problems))


def format_timestamp(seconds: float) -> str:
    """Seconds -> ``[mm:ss.xx]`` (rounded to the hundredth)."""
    hundredths = round(seconds * 100)
    minutes, rest = divmod(hundredths, 6000)
    return f"[{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}]"


def _is_section_tag(line: str) -> bool:
    return bool(_SECTION_TAG.match(line))


def _read_timestamp(content: str) -> float | str:
    """The inside of one ``[...]`` -> seconds, or the reason it is not a valid timestamp."""
    match = _TIME.match(content.strip())
    if not match:
        return f"bad timestamp [{content}]: expected [mm:ss.xx]"
    minutes, seconds, fraction = match.groups()
    if int(seconds) >= 60:
        return f"bad timestamp [{content}]: seconds must be below 60"
    return int(minutes) * 60 + int(seconds) + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _looks_like_timestamp(content: str) -> bool:
    """Whether ``[content]`` was meant as a time (and is reported if malformed) rather than bracketed text."""
    return bool(re.match(r"\s*\d", content) or re.fullmatch(r"[\s\d:.]+", content))


@dataclass
class _TimedLine:
    number: int
    raw: str
    times: list[float]
    text: str


def _split_line(number: int, raw: str) -> _TimedLine | list[LyricProblem] | None:
    """One source line -> its timestamps and text, its problems, or None when it is not a lyric line."""
    line = raw.strip()
    if not line or _is_section_tag(line):
        return None
    metadata = _METADATA.match(line)
    if metadata:
        if metadata.group(1).lower() in METADATA_TAGS:
            return None
        return [LyricProblem(number, raw, f"unknown tag [{metadata.group(1)}:...]; expected [mm:ss.xx] and text")]
    times: list[float] = []
    position = 0
    while match := _BRACKET.match(line, position):
        if not _looks_like_timestamp(match.group(1)):
            break  # text in brackets, not a time
        seconds = _read_timestamp(match.group(1))
        if isinstance(seconds, str):
            return [LyricProblem(number, raw, seconds)]
        times.append(seconds)
        position = match.end()
    if not times:
        return [LyricProblem(number, raw, "missing timestamp: a lyric line starts with [mm:ss.xx]")]
    text = re.sub(r"\s+", " ", _WORD_TIME.sub("", line[position:])).strip()
    return _TimedLine(number, raw, times, text)


def _text_problems(line: _TimedLine) -> list[LyricProblem]:
    reasons: list[str] = []
    if not line.text:
        reasons.append("empty text: remove the line (instrumental parts need no line)")
    else:
        bad = unsupported_characters(line.text)
        if bad:
            listed = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in bad[:_MAX_LISTED])
            listed += f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
            reasons.append(
                f"unsupported characters {listed}: only English (Latin letters), Chinese, digits and punctuation"
            )
        elif not has_singable_text(line.text):
            reasons.append("nothing to sing: the text is only punctuation")
        if len(line.text) > MAX_LINE_CHARS:
            reasons.append(f"{len(line.text)} characters; at most {MAX_LINE_CHARS} per line, split it")
    return [LyricProblem(line.number, line.raw, reason) for reason in reasons]


def _time_problems(lines: list[_TimedLine], duration: float) -> list[LyricProblem]:
    problems: list[LyricProblem] = []
    previous: _TimedLine | None = None
    used: dict[float, int] = {}
    for line in lines:
        first = min(line.times)
        if previous is not None and first <= min(previous.times):
            problems.append(
                LyricProblem(
                    line.number,
                    line.raw,
                    f"timestamp {format_timestamp(first)} is not after line {previous.number}'s "
                    f"{format_timestamp(min(previous.times))}: timestamps must increase",
                )
            )
        if first < duration:  # a line past the end is reported once, not again for every line after it
            previous = line
        for time in line.times:
            if time >= duration:
                problems.append(
                    LyricProblem(
                        line.number,
                        line.raw,
                        f"timestamp {format_timestamp(time)} is at or after the end of the {duration:g} s song",
                    )
                )
            elif time in used:
                where = "this line" if used[time] == line.number else f"line {used[time]}"
                problems.append(
                    LyricProblem(line.number, line.raw, f"timestamp {format_timestamp(time)} is also used by {where}")
                )
            used.setdefault(time, line.number)
    return problems


def _check_duration(duration: float) -> float:
    try:
        seconds = float(duration)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    return seconds


def _parse(text: str, duration: float) -> tuple[list[LyricLine], list[LyricProblem]]:
    duration = _check_duration(duration)
    if len(text) > MAX_TEXT_CHARS:
        return [], [LyricProblem(0, "", f"{len(text)} characters; at most {MAX_TEXT_CHARS}")]
    problems: list[LyricProblem] = []
    timed: list[_TimedLine] = []
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        result = _split_line(number, raw)
        if isinstance(result, list):
            problems += result
        elif result is not None:
            if len(timed) == MAX_LINES:
                problems.append(LyricProblem(number, raw, f"more than {MAX_LINES} lyric lines"))
            timed.append(result)
            problems += _text_problems(result)
    problems += _time_problems(timed, duration)
    problems.sort(key=lambda p: p.line_number)
    lines = [LyricLine(round(time, 3), line.text, line.number) for line in timed for time in sorted(set(line.times))]
    lines.sort(key=lambda line: (line.time, line.line_number))
    return lines, problems


def parse_lrc(text: str, duration: float) -> list[LyricLine]:
    """LRC text -> lyric lines sorted by time, for a song of ``duration`` seconds.

    Raises ``LyricsError`` listing every bad line (see the module docstring for the rules); a non-positive
    ``duration`` is a ``ValueError``."""
    lines, problems = _parse(text, duration)
    if problems:
        raise LyricsError(problems)
    return lines


def validate_lrc(text: str, duration: float) -> list[LyricProblem]:
    """Every problem of the LRC text, for live validation; empty when ``parse_lrc`` would accept it."""
    return _parse(text, duration)[1]


# --- Automatic timing -----------------------------------------------------------------------------------------

MIN_LINE_SECONDS = 1.6  # the shortest time a line gets: a phrase and a breath
MAX_SECONDS_PER_SYLLABLE = 1.0  # slower than a slow ballad; time beyond it goes to instrumental breaks
MAX_BREAK_SECONDS = 12.0  # about 4-8 bars; time beyond it goes to the outro
_VOWEL_GROUP = re.compile(r"[aeiouyàáâäãåæèéêëìíîïòóôöõøùúûüýÿœ]+")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f']+")
_LEADING_LRC_TAGS = re.compile(r"^(?:\s*\[\s*\d{1,3}:\d{1,2}(?:\.\d{1,3})?\s*\])+")


def _english_syllables(word: str) -> int:
    word = word.lower()
    count = len(_VOWEL_GROUP.findall(word))
    if count > 1 and word.endswith("e") and not word.endswith(("le", "ee", "ye")):
        count -= 1  # silent final e: "time", "love"
    return max(1, count)


def estimate_syllables(text: str) -> int:
    """Sung syllables of a line, roughly: one per Chinese character, vowel groups of English words, one per digit."""
    chinese = sum(1 for ch in text if char_kind(ch) == "zh")
    english = sum(_english_syllables(word) for word in _LATIN_WORD.findall(text))
    digits = sum(1 for ch in text if ch.isascii() and ch.isdigit())
    return max(1, chinese + english + digits)


def _sections(plain_lyrics: str) -> list[list[str]]:
    """Plain lyrics -> sections of sung lines. Blank lines, section tags and punctuation-only lines split sections;
    LRC timestamps and metadata already on the lines are dropped (the lyrics get re-timed)."""
    sections: list[list[str]] = [[]]
    for raw in plain_lyrics.removeprefix("\ufeff").splitlines():
        line = raw.strip()
        metadata = _METADATA.match(line)
        if metadata and metadata.group(1).lower() in METADATA_TAGS:
            continue
        line = re.sub(r"\s+", " ", _LEADING_LRC_TAGS.sub("", line)).strip()
        if not line or _is_section_tag(line) or not has_singable_text(line):
            if sections[-1]:
                sections.append([])
        else:
            sections[-1].append(line)
    return [section for section in sections if section]


def _spread(weights: list[int], total: float, minimum: float) -> list[float]:
    """``total`` seconds shared in proportion to ``weights``, no share below ``minimum``."""
    slots: list[float | None] = [None] * len(weights)
    budget = total
    while free := [i for i, slot in enumerate(slots) if slot is None]:
        weight = sum(weights[i] for i in free)
        short = [i for i in free if budget * weights[i] / weight < minimum]
        if not short:
            for i in free:
                slots[i] = budget * weights[i] / weight
            break
        for i in short:
            slots[i] = minimum
            budget -= minimum
    return [slot if slot is not None else minimum for slot in slots]


def _default_margin(duration: float) -> float:
    return min(max(0.06 * duration, 2.0), 10.0)


def auto_time(
    plain_lyrics: str, duration: float, *, start: float | None = None, end_margin: float | None = None
) -> str:
    """Plain lyrics -> LRC spread over a ``duration`` s song; ``parse_lrc`` accepts the result.

    The first line starts after an instrumental intro of ``start`` seconds and the last line ends
    ``end_margin`` seconds before the end (both default to 6% of the song, between 2 and 10 s). Between them
    each line gets time in proportion to its estimated syllables, at least ``MIN_LINE_SECONDS``; sections
    (separated by blank lines or tags such as ``[chorus]`` or ``Verse 2:``, which are not sung) are
    separated by short instrumental breaks. A line never gets more than ``MAX_SECONDS_PER_SYLLABLE`` per
    syllable: time left over lengthens the breaks (to at most ``MAX_BREAK_SECONDS``) and the outro.
    Empty lyrics give "" (an instrumental).

    Raises ValueError when the lines cannot fit, each needing ``MIN_LINE_SECONDS``. The text of the lines is
    not checked here: ``validate_lrc`` on the result names unsupported characters or overlong lines."""
    duration = _check_duration(duration)
    intro = _default_margin(duration) if start is None else start
    outro = _default_margin(duration) if end_margin is None else end_margin
    if intro < 0 or outro < 0 or intro + outro >= duration:
        raise ValueError(f"start ({intro:g} s) and end margin ({outro:g} s) leave no time in a {duration:g} s song")
    sections = _sections(plain_lyrics)
    lines = [line for section in sections for line in section]
    if not lines:
        return ""
    window = duration - intro - outro
    needed = len(lines) * MIN_LINE_SECONDS
    if needed > window:
        raise ValueError(
            f"{len(lines)} lyric lines need at least {needed:g} s ({MIN_LINE_SECONDS:g} s each) but a {duration:g} s "
            f"song has {window:g} s between the intro and the outro: shorten the lyrics or make the song longer"
        )
    gap = min(max(0.025 * duration, 1.0), 4.0)
    gap = min(gap, (window - needed) / max(1, len(sections) - 1))  # breaks shrink before lines do
    weights = [estimate_syllables(line) for line in lines]
    slots = _spread(weights, window - gap * (len(sections) - 1), MIN_LINE_SECONDS)
    capped = [
        min(slot, max(MIN_LINE_SECONDS, w * MAX_SECONDS_PER_SYLLABLE)) for slot, w in zip(slots, weights, strict=True)
    ]
    if len(sections) > 1:  # time the cap freed lengthens the breaks (up to a limit) and the outro
        gap += max(0.0, min((sum(slots) - sum(capped)) / len(sections), MAX_BREAK_SECONDS - gap))

    out: list[str] = []
    time = intro
    index = 0
    for number, section in enumerate(sections):
        if number:
            time += gap
        for line in section:
            out.append(format_timestamp(time) + line)
            time += capped[index]
            index += 1
    return "\n".join(out)
