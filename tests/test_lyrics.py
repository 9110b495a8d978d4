"""LRC parsing and validation, and automatic timing of plain lyrics (engine/lyrics.py)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diffrhythm_ui.engine.lyrics import (
    MAX_LINE_CHARS,
    MAX_SECONDS_PER_SYLLABLE,
    MIN_LINE_SECONDS,
    LyricLine,
    LyricsError,
    auto_time,
    estimate_syllables,
    format_timestamp,
    parse_lrc,
    validate_lrc,
)


def problems_of(text: str, duration: float = 95.0) -> dict[int, list[str]]:
    """Line number -> reasons, as parse_lrc reports them."""
    with pytest.raises(LyricsError) as caught:
        parse_lrc(text, duration)
    by_line: dict[int, list[str]] = {}
    for problem in caught.value.problems:
        by_line.setdefault(problem.line_number, []).append(problem.reason)
    assert [str(p) for p in caught.value.problems] == [str(p) for p in validate_lrc(text, duration)]
    return by_line


# --- parse_lrc: valid input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "seconds"),
    [("[01:02]", 62.0), ("[01:02.5]", 62.5), ("[01:02.25]", 62.25), ("[01:02.125]", 62.125), ("[0:07.10]", 7.1)],
)
def test_timestamp_formats(stamp: str, seconds: float) -> None:
    assert parse_lrc(f"{stamp}hello", 95) == [LyricLine(seconds, "hello", 1)]


def test_metadata_blank_lines_bom_and_crlf() -> None:
    text = "\ufeff[ti:Night drive]\r\n[ar:Someone]\r\n[al:Album]\r\n[by:me]\r\n[offset:+200]\r\n\r\n[00:05.00]first\r\n"
    assert parse_lrc(text, 95) == [LyricLine(5.0, "first", 7)]
    assert validate_lrc(text, 95) == []


def test_empty_lyrics_are_an_instrumental() -> None:
    assert parse_lrc("", 95) == []
    assert parse_lrc("  \n\t\n", 95) == []
    assert validate_lrc("", 95) == []


def test_last_line_is_kept() -> None:
    lines = parse_lrc("[00:10.00]one\n[00:20.00]two\n[01:30.00]last", 95)
    assert [line.text for line in lines] == ["one", "two", "last"]


def test_multiple_timestamps_expand_in_time_order() -> None:
    text = "[00:10.00][00:40.00]chorus\n[00:20.00]verse\n[00:30.00]more"
    lines = parse_lrc(text, 95)
    assert [(line.time, line.text, line.line_number) for line in lines] == [
        (10.0, "chorus", 1),
        (20.0, "verse", 2),
        (30.0, "more", 3),
        (40.0, "chorus", 1),
    ]


def test_section_tags_on_their_own_line_are_skipped_and_word_times_removed() -> None:
    lines = parse_lrc("[Chorus]\n[00:10.00]<00:10.00>hold <00:11.50>on\n(Verse 2)", 95)
    assert lines == [LyricLine(10.0, "hold on", 2)]


def test_chinese_and_mixed_lines() -> None:
    lines = parse_lrc("[00:18.23]让我掉下眼泪的，\n[00:21.80]不止 yesterday 的酒！", 95)
    assert [line.text for line in lines] == ["让我掉下眼泪的，", "不止 yesterday 的酒！"]


# --- parse_lrc: every problem named ---------------------------------------------------------------------------


@pytest.mark.parametrize("stamp", ["[00:60.00]", "[01:75]", "[00:1a.00]", "[0x:10.00]", "[00:10.0000]", "[00:10:00]"])
def test_bad_timestamp(stamp: str) -> None:
    reasons = problems_of(f"[00:01.00]ok\n{stamp}words")
    assert list(reasons) == [2]
    assert reasons[2][0].startswith(f"bad timestamp {stamp}")
    if stamp in ("[00:60.00]", "[01:75]"):
        assert "below 60" in reasons[2][0]


@pytest.mark.parametrize("line", ["just words", "[verse]words", "  words [00:10.00]"])
def test_missing_timestamp(line: str) -> None:
    assert problems_of(f"[00:01.00]ok\n{line}") == {2: ["missing timestamp: a lyric line starts with [mm:ss.xx]"]}


def test_unknown_tag() -> None:
    assert "unknown tag" in problems_of("[xx:yy]")[1][0]


def test_out_of_order_and_equal_timestamps() -> None:
    reasons = problems_of("[00:10.00]a\n[00:05.00]b\n[00:20.00]c\n[00:20.00]d")
    assert sorted(reasons) == [2, 4]
    assert "[00:05.00] is not after line 1's [00:10.00]" in reasons[2][0]
    assert "[00:20.00] is not after line 3's [00:20.00]" in reasons[4][0]


def test_repeated_time_from_a_multi_timestamp_line() -> None:
    reasons = problems_of("[00:10.00][00:30.00]chorus\n[00:20.00][00:30.00]verse\n[00:40.00][00:40.00]x")
    assert reasons == {
        2: ["timestamp [00:30.00] is also used by line 1"],
        3: ["timestamp [00:40.00] is also used by this line"],
    }


def test_beyond_duration_is_reported_once() -> None:
    reasons = problems_of("[00:10.00]a\n[01:35.00]at the end\n[00:50.00]b\n[02:00.00]c", duration=95)
    assert reasons == {
        2: ["timestamp [01:35.00] is at or after the end of the 95 s song"],
        4: ["timestamp [02:00.00] is at or after the end of the 95 s song"],
    }
    assert parse_lrc("[01:34.99]just in", 95)[0].time == pytest.approx(94.99)


@pytest.mark.parametrize("text", ["[00:10.00]", "[00:10.00]   ", "[00:10.00]<00:10.50>"])
def test_empty_text(text: str) -> None:
    assert problems_of(text)[1][0].startswith("empty text")


def test_punctuation_only_text() -> None:
    assert problems_of("[00:10.00]... !!")[1] == ["nothing to sing: the text is only punctuation"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Привет", ["'П' (U+041F)", "'р' (U+0440)"]),
        ("사랑해 baby", ["'사' (U+C0AC)", "'랑' (U+B791)", "'해' (U+D574)"]),
        ("love 🎵", ["'🎵' (U+1F3B5)"]),
        ("tab\x07bell", ["'\\x07' (U+0007)"]),
        ("こんにちは", ["'こ' (U+3053)"]),
    ],
)
def test_unsupported_characters_are_named(text: str, named: list[str]) -> None:
    (reason,) = problems_of(f"[00:10.00]{text}")[1]
    assert reason.startswith("unsupported characters")
    for name in named:
        assert name in reason


def test_accented_latin_full_width_and_chinese_punctuation_are_supported() -> None:
    assert validate_lrc("[00:10.00]Café naïve, ＡＢＣ １２３。「你好」…", 95) == []


def test_line_too_long() -> None:
    (reason,) = problems_of("[00:10.00]" + "la " * MAX_LINE_CHARS)[1]
    assert f"at most {MAX_LINE_CHARS} per line" in reason


def test_every_bad_line_in_one_error() -> None:
    text = "[00:10.00]fine\n[00:99.00]x\nno time\n[00:05.00]early\n[00:20.00]\n[00:30.00]Ж\n[05:00.00]late"
    with pytest.raises(LyricsError) as caught:
        parse_lrc(text, 95)
    message = str(caught.value)
    for number in (2, 3, 4, 5, 6, 7):
        assert re.search(rf"^line {number}: ", message, re.MULTILINE)
    assert "line 1:" not in message
    assert message.startswith("The lyrics have 6 problems:")


@pytest.mark.parametrize("duration", [0, -5, float("nan"), float("inf")])
def test_bad_duration_is_a_value_error(duration: float) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_lrc("", duration)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.floats(min_value=1, max_value=300))
def test_arbitrary_text_only_raises_lyrics_error(text: str, duration: float) -> None:
    problems = validate_lrc(text, duration)
    try:
        lines = parse_lrc(text, duration)
    except LyricsError as error:
        assert error.problems == problems and problems
    else:
        assert problems == []
        assert all(0 <= line.time < duration and line.text for line in lines)


_LRC_LIKE = st.lists(
    st.one_of(
        st.builds(lambda m, s, t: f"[{m:02d}:{s:05.2f}]{t}", st.integers(0, 5), st.floats(0, 70), st.text(max_size=30)),
        st.sampled_from(["[ti:x]", "[chorus]", "", "[00:10.00][00:20]", "[99:99.99]x", "[:]", "[00:10.0"]),
        st.text(max_size=30),
    ),
    max_size=20,
)


@settings(max_examples=200, deadline=None)
@given(_LRC_LIKE, st.floats(min_value=1, max_value=300))
def test_lrc_like_text_only_raises_lyrics_error(lines: list[str], duration: float) -> None:
    text = "\n".join(lines)
    try:
        parse_lrc(text, duration)
    except LyricsError as error:
        assert error.problems == validate_lrc(text, duration)


def test_format_timestamp() -> None:
    assert format_timestamp(0) == "[00:00.00]"
    assert format_timestamp(62.5) == "[01:02.50]"
    assert format_timestamp(59.999) == "[01:00.00]"
    assert format_timestamp(284.99) == "[04:44.99]"


# --- auto_time ------------------------------------------------------------------------------------------------

SONG = """[Verse 1]
Moonlight spills through broken blinds
Your shadow dances on the dashboard shrine
Neon ghosts in gasoline rain

[Chorus]
I hear your laughter down the midnight train
Oh
Static whispers through frayed wires

Bridge:
Guitar strings hum our cathedral choirs
"""


def timed(lrc: str, duration: float) -> list[LyricLine]:
    lines = parse_lrc(lrc, duration)
    assert validate_lrc(lrc, duration) == []
    return lines


@pytest.mark.parametrize("duration", [30.0, 95.0, 180.0, 285.0])
def test_auto_time_gives_valid_increasing_lrc_within_the_song(duration: float) -> None:
    lines = timed(auto_time(SONG, duration), duration)
    sung = [line.strip() for line in SONG.splitlines() if line.strip() and line[0] not in "[B"]
    assert [line.text for line in lines] == sung  # section tags and headers are not sung
    times = [line.time for line in lines]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert times[0] >= 2.0  # an instrumental intro
    assert times[-1] + MIN_LINE_SECONDS <= duration - 2.0  # the last line has time, then an outro


def test_auto_time_intro_and_outro_scale_with_the_song() -> None:
    assert timed(auto_time(SONG, 95), 95)[0].time == pytest.approx(95 * 0.06, abs=0.01)
    assert timed(auto_time(SONG, 285), 285)[0].time == pytest.approx(10.0)
    assert timed(auto_time(SONG, 30), 30)[0].time == pytest.approx(2.0)
    assert timed(auto_time(SONG, 95, start=12.0), 95)[0].time == pytest.approx(12.0)


def test_auto_time_gives_time_in_proportion_to_syllables() -> None:
    # vowel groups: g(o) n(o)w; d(a)nc(i)ng (i)n th(e) m(oo)nl(i)ght t(o)n(i)ght w(i)th (you) b(a)b(y)
    short, long = "go now", "dancing in the moonlight tonight with you baby"
    assert (estimate_syllables(short), estimate_syllables(long)) == (2, 12)
    lyrics = "\n".join([long, short, long, short, long])
    lines = timed(auto_time(lyrics, 60, start=2.0, end_margin=4.0), 60)
    slots = [b.time - a.time for a, b in zip(lines, lines[1:], strict=False)] + [60 - 4.0 - lines[-1].time]
    # 54 s for 40 syllables: 1.35 s per syllable is over the cap, so each line gets the cap
    assert slots[0] == pytest.approx(12 * MAX_SECONDS_PER_SYLLABLE, abs=0.02)
    assert slots[1] == pytest.approx(max(MIN_LINE_SECONDS, 2 * MAX_SECONDS_PER_SYLLABLE), abs=0.02)
    lines = timed(auto_time(lyrics, 40, start=2.0, end_margin=4.0), 40)
    slots = [b.time - a.time for a, b in zip(lines, lines[1:], strict=False)] + [40 - 4.0 - lines[-1].time]
    # 34 s for 40 syllables (0.85 s each), no line at the minimum or the cap: time is exactly proportional
    assert slots[0] / slots[1] == pytest.approx(12 / 2, rel=0.01)
    assert sum(slots) == pytest.approx(34.0, abs=0.02)


def test_auto_time_short_lines_get_the_minimum() -> None:
    lyrics = "\n".join(["oh"] * 3 + ["this line has quite a lot of syllables in it to sing"] * 3)
    lines = timed(auto_time(lyrics, 20, start=1.0, end_margin=1.0), 20)
    assert lines[1].time - lines[0].time == pytest.approx(MIN_LINE_SECONDS, abs=0.01)


def test_auto_time_puts_breaks_between_sections() -> None:
    lyrics = "one two three four\nfive six seven eight\n\n[chorus]\none two three four\nfive six seven eight"
    lines = timed(auto_time(lyrics, 40, start=2.0, end_margin=2.0), 40)
    within = lines[1].time - lines[0].time
    across = lines[2].time - lines[1].time
    assert across - within >= 1.0  # the break before the chorus
    assert lines[3].time - lines[2].time == pytest.approx(within, abs=0.01)


def test_auto_time_chinese_lyrics() -> None:
    lyrics = "[verse]\n让我掉下眼泪的\n不止昨夜的酒\n\n[chorus]\n余路还要走多久\n你攥着我的手"
    assert estimate_syllables("让我掉下眼泪的") == 7
    lines = timed(auto_time(lyrics, 95), 95)
    assert [line.text for line in lines] == ["让我掉下眼泪的", "不止昨夜的酒", "余路还要走多久", "你攥着我的手"]


def test_auto_time_retimes_lrc_and_skips_metadata() -> None:
    lines = timed(auto_time("[ti:x]\n[00:50.00]first line\n[01:00.00]second line", 95), 95)
    assert [line.text for line in lines] == ["first line", "second line"]


def test_auto_time_instrumental() -> None:
    assert auto_time("", 95) == ""
    assert auto_time("[intro]\n\n[outro]\n", 95) == ""


def test_auto_time_too_many_lines() -> None:
    lyrics = "\n".join(f"line number {i}" for i in range(60))
    with pytest.raises(ValueError, match="60 lyric lines need at least 96 s"):
        auto_time(lyrics, 95)
    assert len(timed(auto_time(lyrics, 285), 285)) == 60


def test_auto_time_bad_margins() -> None:
    with pytest.raises(ValueError, match="leave no time"):
        auto_time("hello", 10, start=6, end_margin=5)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.lists(
                st.sampled_from(["love", "night", "fire", "我", "爱", "你", "beautiful", "7"]), min_size=1, max_size=12
            ),
            st.sampled_from([[""], ["[chorus]"], ["Verse 2:"]]),
        ),
        max_size=40,
    ),
    st.floats(min_value=10, max_value=285),
)
def test_auto_time_output_always_parses(words: list[list[str]], duration: float) -> None:
    lyrics = "\n".join(" ".join(line) for line in words)
    try:
        lrc = auto_time(lyrics, duration)
    except ValueError as error:
        assert "lyric lines need at least" in str(error)
        return
    lines = timed(lrc, duration)
    times = [line.time for line in lines]
    assert times == sorted(times) and all(0 < t < duration for t in times)
