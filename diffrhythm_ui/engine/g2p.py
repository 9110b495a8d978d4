"""Lyrics text to DiffRhythm phoneme tokens (grapheme to phoneme, G2P).

Follows the rules of the official repository's ``g2p`` package (itself from Amphion), rewritten:

- a line is split into Chinese and English runs; digits, spaces and punctuation stay with the run before them;
- English goes through espeak-ng (phonemizer, en-us, no stress marks); words are separated by ``_``, the
  punctuation marks , . ? ! ; : … become their own tokens, and a few espeak phones are merged or renamed onto
  the vocabulary (t+ɹ -> tɹ, ɐ -> ɚ, ᵻ -> ɪ, ʔ -> t, ...);
- Chinese goes through jieba words and pypinyin (tone sandhi on), then a pinyin -> IPA table: an initial phone
  (p⁼ pʰ m f t⁼ tʰ n l k⁼ kʰ x tʃ⁼ tʃʰ ʃ ts`⁼ ts`ʰ s` ɹ` ts⁼ tsʰ s) and a final carrying the tone mark
  (tone 1 →, tone 2 ↑, tone 3 ↓↑, tone 4 ↓, neutral tone bare). The official rules write bo/po/mo/fo as one
  symbol (p⁼wo↑) and the apical syllables zi ci si zhi chi shi ri as initial + ɹ (ts`⁼ɹ↓ for zhi4); with a
  neutral tone those keep the bare initial (孩子 -> x aɪ↑ ts⁼), which is what the official G2P feeds the model.

Token ids are the vocabulary's ids plus one, as the official ``CNENTokenizer`` does: 0 is the filler between
lines. ``PHONE_INVENTORY`` lists every symbol this module can emit; it is a subset of the official vocab.json
(checked against it when this module was written), so tests can build a vocabulary without shipping the file.
"""

from __future__ import annotations

import json
import logging
import re
import string
import threading
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cn2an
import jieba
from pypinyin import Style, lazy_pinyin
from pypinyin.pinyin_dict import pinyin_dict

if TYPE_CHECKING:
    from phonemizer.backend import EspeakBackend

logger = logging.getLogger(__name__)

Language = Literal["en", "zh"]

# --- The symbol inventory -------------------------------------------------------------------------------------

PUNCTUATION_TOKENS = (",", ".", "?", "!", ";", ":", "…")
WORD_SEPARATOR = "_"

ENGLISH_PHONES = (
    # vowels and diphthongs espeak-ng en-us produces (after the renames below)
    "iː", "ɪ", "ɜː", "ɚ", "oːɹ", "ɔː", "ɔːɹ", "ɑː", "uː", "ʊ", "ɑːɹ", "ʌ", "ɛ", "æ", "eɪ", "aɪ", "ɔɪ", "aʊ",
    "oʊ", "ɪɹ", "ɛɹ", "ʊɹ", "i", "ɔ", "ə", "iə", "u", "oː", "aɪə", "aɪɚ", "ɑ̃", "ɔ̃",
    "ææ", "ɐɐ", "iːː", "ɛː", "ɪː",  # lengthened vowels, for spelled-out or foreign words ("AÁA")
    # consonants, with the merged clusters
    "p", "b", "t", "d", "k", "ɡ", "f", "v", "θ", "ð", "s", "z", "ʃ", "ʒ", "h", "tʃ", "dʒ", "m", "n", "ŋ", "j",
    "w", "ɹ", "l", "tɹ", "dɹ", "ts", "dz", "ɾ", "r", "ç",
)  # fmt: skip

# Pinyin initial -> IPA initial phone.
_INITIALS = {
    "b": "p⁼", "p": "pʰ", "m": "m", "f": "f", "d": "t⁼", "t": "tʰ", "n": "n", "l": "l",
    "g": "k⁼", "k": "kʰ", "h": "x", "j": "tʃ⁼", "q": "tʃʰ", "x": "ʃ",
    "zh": "ts`⁼", "ch": "ts`ʰ", "sh": "s`", "r": "ɹ`", "z": "ts⁼", "c": "tsʰ", "s": "s",
}  # fmt: skip

# Spelled-out pinyin final (after y/w/ü normalisation, see _split_syllable) -> IPA phones. The tone mark goes on
# the last phone. ``io`` and ``iai`` (yo, yai) have no single symbol and are two phones, as in the official rules.
_FINALS = {
    "a": ("a",), "o": ("o",), "e": ("ə",), "ê": ("ɛ",), "ai": ("aɪ",), "ei": ("eɪ",), "ao": ("ɑʊ",),
    "ou": ("oʊ",), "an": ("an",), "en": ("ən",), "ang": ("ɑŋ",), "eng": ("əŋ",), "er": ("əɹ",), "ong": ("ʊŋ",),
    "i": ("i",), "ia": ("ia",), "ie": ("iɛ",), "iao": ("iɑʊ",), "iou": ("ioʊ",), "ian": ("jɛn",), "in": ("in",),
    "iang": ("iɑŋ",), "ing": ("iŋ",), "iong": ("jʊŋ",), "io": ("i", "o"), "iai": ("i", "aɪ"),
    "u": ("u",), "ua": ("ua",), "uo": ("uo",), "uai": ("uaɪ",), "uei": ("ueɪ",), "uan": ("uan",), "uen": ("uən",),
    "uang": ("uɑŋ",), "ueng": ("ʊŋ",),
    "ü": ("ɥ",), "üe": ("ɥɛ",), "üan": ("ɥæn",), "ün": ("ɥn",),
}  # fmt: skip

_TONE_MARKS = {1: "→", 2: "↑", 3: "↓↑", 4: "↓", 5: ""}
_APICAL_INITIALS = ("zh", "ch", "sh", "r", "z", "c", "s")  # with final -i: one symbol, initial + ɹ
_LABIAL_O_INITIALS = ("b", "p", "m", "f")  # bo po mo fo: one symbol, initial + wo


def _mandarin_inventory() -> tuple[str, ...]:
    symbols: list[str] = list(_INITIALS.values())
    toned: list[str] = [phones[-1] for phones in _FINALS.values()]
    toned += [_INITIALS[i] + "wo" for i in _LABIAL_O_INITIALS] + [_INITIALS[i] + "ɹ" for i in _APICAL_INITIALS]
    symbols += [phones[0] for phones in _FINALS.values() if len(phones) > 1]
    symbols += [phone + mark for phone in toned for mark in _TONE_MARKS.values()]
    return tuple(dict.fromkeys(symbols))


PHONE_INVENTORY: tuple[str, ...] = tuple(
    dict.fromkeys((*PUNCTUATION_TOKENS, WORD_SEPARATOR, *ENGLISH_PHONES, *_mandarin_inventory()))
)

# --- Characters: what the G2P can read ------------------------------------------------------------------------

_CHINESE_PUNCTUATION = {"，": ",", "。": ".", "！": "!", "？": "?", "；": ";", "：": ":", "、": ","}
_SILENT_PUNCTUATION = frozenset(string.punctuation + "“”‘’（）《》〈〉「」『』【】〔〕—–～·«»¡¿")
_SPACES = frozenset(" \t\u00a0\u3000")

CharKind = Literal["zh", "en", "digit", "punct", "space"]


def _fold_fullwidth(ch: str) -> str:
    """Full-width ASCII forms (Ａ, ３, ！) -> ASCII."""
    return chr(ord(ch) - 0xFEE0) if "\uff01" <= ch <= "\uff5e" else ch


_LATIN_WITHOUT_DECOMPOSITION = {
    "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D",
    "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "ı": "i",
}  # fmt: skip


def _plain_latin(ch: str) -> str:
    """A Latin letter as ASCII letters without accents ("é" -> "e", "ß" -> "ss", "Ａ" -> "A"); "" for any other
    character. English goes to espeak-ng in ASCII: with accents it switches to other languages' phones."""
    if ch in _LATIN_WITHOUT_DECOMPOSITION:
        return _LATIN_WITHOUT_DECOMPOSITION[ch]
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return base if base.isascii() and base.isalpha() else ""


def char_kind(ch: str) -> CharKind | None:
    """What the G2P does with one character; None when it cannot pronounce it."""
    if ch in _CHINESE_PUNCTUATION or ch == "…":
        return "punct"
    ch = _fold_fullwidth(ch)
    if ch in _SPACES:
        return "space"
    if ch in "0123456789":
        return "digit"
    if ch in _SILENT_PUNCTUATION:
        return "punct"
    if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
        return "zh" if ord(ch) in pinyin_dict else None
    if ch.isalpha() and _plain_latin(ch):
        return "en"
    return None


def unsupported_characters(text: str) -> list[str]:
    """The distinct characters of ``text`` the G2P cannot pronounce, in order of appearance."""
    return list(dict.fromkeys(ch for ch in text if char_kind(ch) is None))


def has_singable_text(text: str) -> bool:
    """True when ``text`` has a letter, digit or Chinese character (not only spaces and punctuation)."""
    return any(char_kind(ch) in ("zh", "en", "digit") for ch in text)


def split_languages(text: str, default: Language = "en") -> list[tuple[str, Language]]:
    """Mixed text -> runs of one language. Digits, spaces and punctuation join the run before them (or the first
    run, at the start); text with neither letters nor Chinese is one run in ``default``."""
    runs: list[tuple[str, Language]] = []
    pending = ""  # neutral characters before the first run
    for ch in text:
        kind = char_kind(ch)
        if kind is None:
            continue
        if kind not in ("zh", "en"):
            if runs:
                runs[-1] = (runs[-1][0] + ch, runs[-1][1])
            else:
                pending += ch
        elif runs and runs[-1][1] == kind:
            runs[-1] = (runs[-1][0] + ch, kind)
        else:
            runs.append((pending + ch, kind))
            pending = ""
    if pending:
        runs.append((pending, default))
    return runs


# --- English --------------------------------------------------------------------------------------------------

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
    "twelve": "twelfth",
}  # fmt: skip


def number_to_words(n: int) -> str:
    """A non-negative integer in English words ("one hundred twenty-three"); beyond the trillions, digit by digit."""
    if n >= 10**15:
        return " ".join(_ONES[int(d)] for d in str(n))
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_to_words(rest)}" if rest else "")
    scale, name = next((scale, name) for scale, name in _SCALES if n >= scale)
    top, rest = divmod(n, scale)
    return f"{number_to_words(top)} {name}" + (f" {number_to_words(rest)}" if rest else "")


def _cardinal(n: int) -> str:
    """Numbers as sung: years between 1000 and 3000 in pairs ("nineteen eighty-four", "two thousand five")."""
    if 1000 < n < 3000 and not 2000 <= n < 2010:
        high, low = divmod(n, 100)
        if low == 0:
            return f"{number_to_words(high)} hundred"
        return f"{number_to_words(high)} " + (f"oh {_ONES[low]}" if low < 10 else number_to_words(low))
    return number_to_words(n)


def _ordinal(n: int) -> str:
    words = number_to_words(n)
    head, sep, last = words.rpartition("-") if "-" in words.split()[-1] else words.rpartition(" ")
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


_ENGLISH_NUMBER = re.compile(
    r"(?P<dollar>\$)?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?(?P<ord>st|nd|rd|th)?(?P<pct>%)?",
    re.IGNORECASE,
)


def _expand_english_number(match: re.Match[str]) -> str:
    value = int(match["int"].replace(",", ""))
    if match["ord"] and not match["frac"]:
        words = _ordinal(value)
    else:
        words = _cardinal(value)
        if match["frac"]:
            words += " point " + " ".join(_ONES[int(d)] for d in match["frac"])
    if match["pct"]:
        words += " percent"
    if match["dollar"]:
        words += " dollar" if value == 1 and not match["frac"] else " dollars"
    return f" {words} "


def normalize_english(text: str) -> str:
    """Numbers to words, "&" to "and", Latin letters and full-width forms to ASCII."""
    text = "".join(_plain_latin(ch) or _fold_fullwidth(ch) for ch in text)
    text = _ENGLISH_NUMBER.sub(_expand_english_number, text)
    return text.replace("&", " and ")


# espeak-ng phones the vocabulary spells differently (official english.py): pairs merged inside a word, in order,
# then single renames.
_ENGLISH_MERGES = (("t", "ɹ", "tɹ"), ("d", "ɹ", "dɹ"), ("t", "s", "ts"), ("d", "z", "dz"), ("ɪ", "ɹ", "ɪɹ"))
_ENGLISH_RENAMES = {"ɐ": "ɚ", "ᵻ": "ɪ", "əl": "l", "x": "k", "ɬ": "l", "ʔ": "t", "n̩": "n"}
_ENGLISH_LATE_MERGES = (("oː", "ɹ", "oːɹ"),)


def _merge_pairs(phones: list[str], rules: tuple[tuple[str, str, str], ...]) -> list[str]:
    for first, second, merged in rules:
        out: list[str] = []
        for phone in phones:
            if out and out[-1] == first and phone == second:
                out[-1] = merged
            else:
                out.append(phone)
        phones = out
    return phones


def map_espeak_word(phones: list[str]) -> list[str]:
    """One word's espeak-ng phones -> the vocabulary's English phones."""
    phones = _merge_pairs(phones, _ENGLISH_MERGES)
    phones = [_ENGLISH_RENAMES.get(p, p) for p in phones]
    return _merge_pairs(phones, _ENGLISH_LATE_MERGES)


# phonemizer logs a warning for every joined word ("words count mismatch") even when told to ignore them.
_ESPEAK_LOGGER = logging.getLogger(f"{__name__}.espeak")
_ESPEAK_LOGGER.setLevel(logging.ERROR)


class EspeakUnavailable(RuntimeError):
    """espeak-ng, which phonemizer drives for English, is not installed."""


class _Espeak:
    """One espeak-ng backend for the process, made on first use (slow) and used by one thread at a time:
    espeak-ng keeps global state and is not thread-safe."""

    _PHONE_SEP = " "
    _WORD_SEP = " | "

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backend: EspeakBackend | None = None

    def _get(self) -> EspeakBackend:
        if self._backend is None:
            from phonemizer.backend import EspeakBackend

            if not EspeakBackend.is_available():
                raise EspeakUnavailable(
                    "English lyrics need espeak-ng, which is not installed: install it with "
                    "`apt-get install espeak-ng` (on Hugging Face Spaces, list espeak-ng in packages.txt)"
                )
            self._backend = EspeakBackend(
                "en-us",
                preserve_punctuation=False,
                with_stress=False,
                language_switch="remove-flags",
                words_mismatch="ignore",  # espeak joins some words ("on the"); we only need the phones
                logger=_ESPEAK_LOGGER,
            )
        return self._backend

    def words(self, chunks: list[str]) -> list[list[list[str]]]:
        """Punctuation-free text chunks -> per chunk, per word, espeak phones."""
        from phonemizer.separator import Separator

        separator = Separator(phone=self._PHONE_SEP, word=self._WORD_SEP)
        with self._lock:
            outputs = self._get().phonemize(chunks, separator=separator, strip=True, njobs=1)
        return [[word.split() for word in output.split(self._WORD_SEP.strip()) if word.strip()] for output in outputs]


_ESPEAK = _Espeak()
# Split an English run at punctuation tokens; anything else that is not a word character or ' is a space.
_ENGLISH_PUNCT = re.compile(r"\.\.\.|…|[,.?!;:，。！？；：、]")


def _punct_token(mark: str) -> str:
    return "…" if mark in ("...", "…") else _CHINESE_PUNCTUATION.get(mark, mark)


def english_phones(text: str) -> list[str]:
    """An English run -> phones: words separated by ``_``, punctuation marks as tokens."""
    text = normalize_english(text)
    pieces: list[tuple[str, str | None]] = []  # (words, punctuation after them)
    position = 0
    for match in _ENGLISH_PUNCT.finditer(text):
        pieces.append((text[position : match.start()], _punct_token(match.group())))
        position = match.end()
    pieces.append((text[position:], None))
    cleaned = [(re.sub(r"[^\w']+|_", " ", words).strip(" '"), mark) for words, mark in pieces]
    spoken = _ESPEAK.words([words for words, _ in cleaned if words]) if any(w for w, _ in cleaned) else []
    phones: list[str] = []
    spoken_iter = iter(spoken)
    for words, mark in cleaned:
        for word in next(spoken_iter) if words else []:
            if phones and phones[-1] != WORD_SEPARATOR:
                phones.append(WORD_SEPARATOR)
            phones += map_espeak_word(word)
        if mark is not None:
            phones.append(mark)
    return phones


# --- Chinese --------------------------------------------------------------------------------------------------

_CHINESE_DIGITS = "零一二三四五六七八九"
_LONG_NUMBER = re.compile(r"\d{13,}")  # cn2an reads up to 16 digits; longer runs are read digit by digit


def normalize_chinese(text: str) -> str:
    """Arabic numbers -> Chinese numerals (cn2an, e.g. 2024年 -> 二零二四年), full-width forms -> ASCII."""
    text = "".join(_fold_fullwidth(ch) for ch in text)
    text = _LONG_NUMBER.sub(lambda m: "".join(_CHINESE_DIGITS[int(d)] for d in m.group()), text)
    text = cn2an.transform(text, "an2cn")
    return re.sub(r"\d", lambda m: _CHINESE_DIGITS[int(m.group())], text)


def _split_syllable(syllable: str) -> tuple[str, str]:
    """Pinyin without tone -> (initial, spelled-out final): yu -> ("", "ü"), jun -> ("j", "ün"), gui -> ("g", "uei")."""
    syllable = syllable.replace("v", "ü")
    initial = next((i for i in ("zh", "ch", "sh") if syllable.startswith(i)), "")
    if not initial and syllable[:1] in _INITIALS and syllable not in ("m", "n", "ng"):
        initial = syllable[0]
    final = syllable[len(initial) :]
    if not initial and final[:1] == "y":
        final = final[1:]
        final = "ü" + final[1:] if final.startswith("u") else final if final.startswith("i") else "i" + final
    elif not initial and final[:1] == "w":
        final = final[1:] if final.startswith("wu") else "u" + final[1:]
    elif initial in ("j", "q", "x") and final.startswith("u"):
        final = "ü" + final[1:]
    final = {"iu": "iou", "ui": "uei", "un": "uen", "üen": "ün", "ue": "üe", "uong": "ueng"}.get(final, final)
    return initial, final


def pinyin_phones(pinyin: str) -> list[str]:
    """One TONE3 pinyin syllable ("zhong1", "men5", "lv4") -> IPA phones with the tone mark on the final."""
    tone = int(pinyin[-1]) if pinyin[-1:].isdigit() else 5
    tone = tone if tone in _TONE_MARKS else 5
    mark = _TONE_MARKS[tone]
    body = pinyin.rstrip("012345").lower()
    if body in ("m", "hm"):  # interjections 呣 噷: the official table spells them mu and h+m
        return ["m", "u" + mark] if body == "m" else ["x", "m"]
    if body in ("n", "ng", "hng"):  # 嗯 哼
        return (["x"] if body == "hng" else []) + ["ən" + mark]
    initial, final = _split_syllable(body)
    if final == "i" and initial in _APICAL_INITIALS:
        # neutral tone: the official rules add ɹ only before a tone mark, leaving the bare initial
        return [_INITIALS[initial] + ("ɹ" + mark if mark else "")]
    if final == "o" and initial in _LABIAL_O_INITIALS:
        return [_INITIALS[initial] + "wo" + mark]
    if final not in _FINALS or (initial and initial not in _INITIALS):
        logger.warning("G2P: no IPA for pinyin %r, skipped", pinyin)
        return []
    phones = ([_INITIALS[initial]] if initial else []) + list(_FINALS[final])
    phones[-1] += mark
    return phones


_CHINESE_CHUNK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|\.\.\.|[,.?!;:…，。！？；：、]")


def chinese_phones(text: str) -> list[str]:
    """A Chinese run -> phones: jieba words, pypinyin syllables with tone sandhi, punctuation marks as tokens."""
    phones: list[str] = []
    for match in _CHINESE_CHUNK.finditer(normalize_chinese(text)):
        chunk = match.group()
        if not "\u3400" <= chunk[0] <= "\u9fff":
            phones.append(_punct_token(chunk))
            continue
        syllables = lazy_pinyin(
            jieba.lcut(chunk),
            style=Style.TONE3,
            neutral_tone_with_five=True,
            tone_sandhi=True,
            errors=lambda chars: [None] * len(chars),
        )
        for syllable in syllables:
            if syllable is None:
                logger.warning("G2P: no pinyin for a character in %r, skipped", chunk)
                continue
            phones += pinyin_phones(syllable)
    return phones


# --- Lines and tokens -----------------------------------------------------------------------------------------


def text_to_phones(text: str, *, default_language: Language = "en") -> list[str]:
    """One lyric line -> phone symbols, before any vocabulary lookup.

    ``default_language`` reads a line with no letters or Chinese characters (only numbers and punctuation)."""
    runs = split_languages(text, default_language)
    phones: list[str] = []
    for index, (run, language) in enumerate(runs):
        if language == "zh":
            phones += chinese_phones(run)
            continue
        english = english_phones(run)
        last = index == len(runs) - 1
        if english and not last and english[-1] not in PUNCTUATION_TOKENS:
            english.append(WORD_SEPARATOR)  # the official G2P ends an English run with a word break
        phones += english
    return phones


class PhonemeTokenizer:
    """Lyric lines -> token ids of the DiffRhythm vocabulary (vocab id + 1; 0 is the filler)."""

    def __init__(self, vocab: Mapping[str, int]) -> None:
        self.vocab = dict(vocab)
        self._phones_by_id = {index + 1: phone for phone, index in self.vocab.items()}

    @classmethod
    def from_file(cls, path: str | Path) -> PhonemeTokenizer:
        """Load the official ``vocab.json`` format, ``{"vocab": {phone: id}}``."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("vocab"), dict):
            raise ValueError(f'{path}: expected a JSON object {{"vocab": {{phone: id}}}}')
        return cls(data["vocab"])

    def token_id(self, phone: str) -> int:
        """The token id of one phone symbol (its vocabulary id + 1)."""
        return self.vocab[phone] + 1

    def phonemes(self, text: str, *, default_language: Language = "en") -> list[str]:
        """The line's phones that the vocabulary has; others are dropped with a warning."""
        phones = text_to_phones(text, default_language=default_language)
        missing = [p for p in phones if p not in self.vocab]
        if missing:
            logger.warning("G2P: phones not in the vocabulary dropped from %r: %s", text, " ".join(missing))
        return [p for p in phones if p in self.vocab]

    def encode(self, text: str, *, default_language: Language = "en") -> list[int]:
        """The line's token ids (vocab id + 1)."""
        return [self.vocab[p] + 1 for p in self.phonemes(text, default_language=default_language)]

    def decode(self, ids: list[int]) -> list[str]:
        """Token ids back to phone symbols; the filler 0 and unknown ids are skipped."""
        return [self._phones_by_id[i] for i in ids if i in self._phones_by_id]
