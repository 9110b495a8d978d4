"""Lyrics to phoneme tokens (engine/g2p.py): Mandarin rules, English through espeak-ng, mixed lines, ids."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin.contrib.tone_convert import to_tone3
from pypinyin.pinyin_dict import pinyin_dict

from diffrhythm_ui.engine import g2p
from diffrhythm_ui.engine.g2p import (
    PHONE_INVENTORY,
    WORD_SEPARATOR,
    EspeakUnavailable,
    PhonemeTokenizer,
    chinese_phones,
    english_phones,
    map_espeak_word,
    number_to_words,
    pinyin_phones,
    split_languages,
    text_to_phones,
    unsupported_characters,
)


def write_vocab(path: Path, symbols: tuple[str, ...] | list[str]) -> Path:
    """A vocabulary in the official format, {"vocab": {phone: id}}, with ids in the given order."""
    path.write_text(json.dumps({"vocab": {s: i for i, s in enumerate(symbols)}}, ensure_ascii=False), "utf-8")
    return path


@pytest.fixture
def tokenizer(tmp_path: Path) -> PhonemeTokenizer:
    return PhonemeTokenizer.from_file(write_vocab(tmp_path / "vocab.json", PHONE_INVENTORY))


# --- Inventory ------------------------------------------------------------------------------------------------


def test_inventory_has_the_punctuation_separator_and_initials() -> None:
    assert len(set(PHONE_INVENTORY)) == len(PHONE_INVENTORY)
    for symbol in (",", ".", "?", "!", "_", "p⁼", "ts`ʰ", "ɹ`", "ts`⁼ɹ↓", "p⁼wo↑", "ʊŋ→", "tɹ", "ɚ"):
        assert symbol in PHONE_INVENTORY


def test_every_pinyin_reading_maps_into_the_inventory() -> None:
    readings = {to_tone3(r, neutral_tone_with_five=True) for value in pinyin_dict.values() for r in value.split(",")}
    assert len(readings) > 1000
    for reading in readings:
        phones = pinyin_phones(reading)
        assert phones, reading
        assert set(phones) <= set(PHONE_INVENTORY), reading


# --- Mandarin -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pinyin", "phones"),
    [
        ("ni3", ["n", "i↓↑"]),  # initial, final i with tone 3
        ("zhong1", ["ts`⁼", "ʊŋ→"]),
        ("guo2", ["k⁼", "uo↑"]),
        ("zhi4", ["ts`⁼ɹ↓"]),  # apical syllable: one symbol
        ("si1", ["sɹ→"]),
        ("ri4", ["ɹ`ɹ↓"]),
        ("zi5", ["ts⁼"]),  # neutral apical keeps the bare initial, as the official rules do
        ("bo2", ["p⁼wo↑"]),  # labial + o: one symbol
        ("lv4", ["l", "ɥ↓"]),
        ("yue4", ["ɥɛ↓"]),
        ("jun1", ["tʃ⁼", "ɥn→"]),  # u after j is ü
        ("xuan3", ["ʃ", "ɥæn↓↑"]),
        ("gui4", ["k⁼", "ueɪ↓"]),  # ui = uei
        ("liu2", ["l", "ioʊ↑"]),  # iu = iou
        ("dun4", ["t⁼", "uən↓"]),  # un = uen
        ("you3", ["ioʊ↓↑"]),
        ("yan4", ["jɛn↓"]),
        ("xiong2", ["ʃ", "jʊŋ↑"]),
        ("wo3", ["uo↓↑"]),
        ("wu1", ["u→"]),
        ("yi1", ["i→"]),
        ("er2", ["əɹ↑"]),
        ("men5", ["m", "ən"]),  # neutral tone: bare final
        ("n2", ["ən↑"]),
        ("qu4", ["tʃʰ", "ɥ↓"]),
        ("hao3", ["x", "ɑʊ↓↑"]),
    ],
)
def test_pinyin_to_ipa(pinyin: str, phones: list[str]) -> None:
    assert pinyin_phones(pinyin) == phones


def test_chinese_words_with_tones_and_sandhi() -> None:
    assert chinese_phones("你") == ["n", "i↓↑"]
    assert chinese_phones("你好") == ["n", "i↑", "x", "ɑʊ↓↑"]  # 3-3 -> 2-3 inside a word
    assert chinese_phones("中国") == ["ts`⁼", "ʊŋ→", "k⁼", "uo↑"]
    assert chinese_phones("不要") == ["p⁼", "u↑", "iɑʊ↓"]  # bu before tone 4 -> bu2
    assert chinese_phones("孩子") == ["x", "aɪ↑", "ts⁼"]


def test_chinese_punctuation_and_numbers() -> None:
    assert chinese_phones("你，好。真的？是！") == [
        *chinese_phones("你"), ",", *chinese_phones("好"), ".",
        *chinese_phones("真的"), "?", *chinese_phones("是"), "!",
    ]  # fmt: skip
    assert chinese_phones("我有3个") == chinese_phones("我有三个")
    assert chinese_phones("2024年") == chinese_phones("二零二四年")
    assert chinese_phones("12345678901234567") == chinese_phones("一二三四五六七八九零一二三四五六七")


# --- English --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("espeak", "mapped"),
    [
        (["s", "t", "ɹ", "iː", "t"], ["s", "tɹ", "iː", "t"]),
        (["d", "ɹ", "iː", "m"], ["dɹ", "iː", "m"]),
        (["k", "æ", "t", "s"], ["k", "æ", "ts"]),
        (["k", "ɪ", "d", "z"], ["k", "ɪ", "dz"]),
        (["h", "ɪ", "ɹ"], ["h", "ɪɹ"]),
        (["ɐ", "b", "ᵻ"], ["ɚ", "b", "ɪ"]),
        (["b", "ʌ", "ʔ", "n̩"], ["b", "ʌ", "t", "n"]),
        (["b", "ɑː", "ɾ", "əl"], ["b", "ɑː", "ɾ", "l"]),
        (["l", "ɔ", "x"], ["l", "ɔ", "k"]),
        (["oː", "ɹ"], ["oːɹ"]),
    ],
)
def test_espeak_phones_mapped_onto_the_vocabulary(espeak: list[str], mapped: list[str]) -> None:
    assert map_espeak_word(espeak) == mapped


def test_hello_world() -> None:
    phones = english_phones("hello world")
    assert phones.count(WORD_SEPARATOR) == 1
    assert phones == english_phones("hello") + [WORD_SEPARATOR] + english_phones("world")
    assert set(phones) <= set(PHONE_INVENTORY)
    assert phones[0] == "h" and phones[-1] == "d"


def test_english_merges_and_punctuation() -> None:
    street = english_phones("street")
    assert "tɹ" in street and "ɹ" not in street
    phones = english_phones("Hello, world! How are you?")
    assert phones == [
        *english_phones("hello"), ",", "_", *english_phones("world"), "!", "_",
        *english_phones("how are you"), "?",
    ]  # fmt: skip
    assert english_phones("wait...") == [*english_phones("wait"), "…"]
    assert english_phones('"quoted" (words)') == english_phones("quoted words")


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (40, "forty"),
        (99, "ninety-nine"),
        (100, "one hundred"),
        (305, "three hundred five"),
        (1000, "one thousand"),
        (12_345, "twelve thousand three hundred forty-five"),
        (2_000_001, "two million one"),
    ],
)
def test_number_to_words(number: int, words: str) -> None:
    assert number_to_words(number) == words


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("1984", "nineteen eighty-four"),
        ("2005", "two thousand five"),
        ("1900", "nineteen hundred"),
        ("1905", "nineteen oh five"),
        ("21st", "twenty-first"),
        ("3rd", "third"),
        ("12th", "twelfth"),
        ("3.14", "three point one four"),
        ("50%", "fifty percent"),
        ("1,000", "one thousand"),
        ("$5", "five dollars"),
    ],
)
def test_english_numbers(written: str, spoken: str) -> None:
    assert g2p.normalize_english(written).split() == spoken.split()
    assert english_phones(f"say {written}") == english_phones(f"say {spoken}")


# --- Lines: mixed, empty, numbers, punctuation ----------------------------------------------------------------


def test_split_languages() -> None:
    assert split_languages("你好，hello world 2024!") == [("你好，", "zh"), ("hello world 2024!", "en")]
    assert split_languages("  3 little 猪") == [("  3 little ", "en"), ("猪", "zh")]
    assert split_languages("123...") == [("123...", "en")]
    assert split_languages("123", default="zh") == [("123", "zh")]


def test_mixed_lines() -> None:
    assert text_to_phones("我爱你 baby") == chinese_phones("我爱你") + english_phones("baby")
    assert text_to_phones("hello你好") == english_phones("hello") + ["_"] + chinese_phones("你好")
    assert text_to_phones("hello! 你好") == english_phones("hello") + ["!"] + chinese_phones("你好")
    assert text_to_phones("我有3个apple") == chinese_phones("我有三个") + english_phones("apple")


@pytest.mark.parametrize("text", ["", "   ", "\t", "🎵", "Привет"])
def test_nothing_to_say(tokenizer: PhonemeTokenizer, text: str) -> None:
    assert tokenizer.phonemes(text) == []
    assert tokenizer.encode(text) == []


def test_punctuation_and_number_only_lines(tokenizer: PhonemeTokenizer) -> None:
    assert tokenizer.phonemes("!!!") == ["!", "!", "!"]
    assert tokenizer.phonemes("...") == ["…"]
    assert tokenizer.phonemes("。，") == [".", ","]
    assert tokenizer.phonemes("123") == english_phones("one hundred twenty-three")
    assert tokenizer.phonemes("123", default_language="zh") == chinese_phones("一百二十三")


# --- Tokens ---------------------------------------------------------------------------------------------------


def test_encode_is_vocab_id_plus_one(tokenizer: PhonemeTokenizer) -> None:
    phones = tokenizer.phonemes("你好, hello world")
    ids = tokenizer.encode("你好, hello world")
    assert ids == [PHONE_INVENTORY.index(p) + 1 for p in phones]
    assert 0 not in ids
    assert tokenizer.decode([0, *ids]) == phones
    assert tokenizer.token_id(",") == PHONE_INVENTORY.index(",") + 1


def test_phones_missing_from_the_vocabulary_are_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    small = PhonemeTokenizer.from_file(write_vocab(tmp_path / "v.json", [p for p in PHONE_INVENTORY if p != "_"]))
    with caplog.at_level(logging.WARNING, logger="diffrhythm_ui.engine.g2p"):
        phones = small.phonemes("hello world")
    assert phones == english_phones("hello") + english_phones("world")
    assert "not in the vocabulary" in caplog.text


def test_from_file_rejects_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({",": 0}), "utf-8")
    with pytest.raises(ValueError, match="vocab"):
        PhonemeTokenizer.from_file(path)


def test_concurrent_encoding_matches_sequential(tokenizer: PhonemeTokenizer) -> None:
    lines = ["hello world", "你好中国", "street lights, 2024!", "我爱你 baby", "the 21st night"] * 8
    expected = [tokenizer.encode(line) for line in lines]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(tokenizer.encode, lines)) == expected


def test_missing_espeak_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from phonemizer.backend import EspeakBackend

    monkeypatch.setattr(EspeakBackend, "is_available", classmethod(lambda cls: False))
    with pytest.raises(EspeakUnavailable, match="apt-get install espeak-ng"):
        g2p._Espeak().words(["hello"])


def test_unsupported_characters() -> None:
    assert unsupported_characters("Hello 你好, café 123！") == []
    assert unsupported_characters("Привет 🎵 мир") == ["П", "р", "и", "в", "е", "т", "🎵", "м"]
    assert unsupported_characters("사랑 ラブ") == ["사", "랑", "ラ", "ブ"]


_LYRIC_ALPHABET = st.one_of(
    st.sampled_from(list("abcdefghijklmnopqrstuvwxyz ABCXYZ éü'0123456789,.?!;:…-\"()，。！？、你好中国爱的一不子")),
    st.characters(codec="utf-8"),
)


@settings(max_examples=150, deadline=None)
@given(st.text(_LYRIC_ALPHABET, max_size=60))
def test_any_text_gives_inventory_phones(text: str) -> None:
    phones = text_to_phones(text)
    assert set(phones) <= set(PHONE_INVENTORY)
    assert not phones or phones[0] != WORD_SEPARATOR and phones[-1] != WORD_SEPARATOR


def test_accented_latin_is_read_as_plain_letters() -> None:
    assert text_to_phones("Café naïve Björk") == text_to_phones("Cafe naive Bjork")
    assert text_to_phones("Ä straße") == text_to_phones("A strasse")
    assert unsupported_characters("ɐ ŋ") == ["ɐ", "ŋ"]  # IPA letters are not lyrics
