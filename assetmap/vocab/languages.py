"""Languages: residents' main languages (Census 2021 TS024, 2011 QS204EW) and providers'.

One slug per language, from the census's detailed labels and the free text providers write
("Punjabi" and "Panjabi", "Farsi" and "Persian/Farsi", "Bengali (with Sylheti and Chatgaya)").
"""

from __future__ import annotations

import re
from functools import lru_cache

#: slug -> label; languages the census lists that ESOL and refugee-support providers work in most
LANGUAGES: dict[str, str] = {
    "english": "English", "welsh": "Welsh", "arabic": "Arabic", "urdu": "Urdu", "panjabi": "Panjabi",
    "bengali": "Bengali", "gujarati": "Gujarati", "hindi": "Hindi", "tamil": "Tamil", "pashto": "Pashto",
    "persian": "Persian (Farsi)", "kurdish": "Kurdish", "polish": "Polish", "romanian": "Romanian",
    "lithuanian": "Lithuanian", "portuguese": "Portuguese", "spanish": "Spanish", "italian": "Italian",
    "french": "French", "bulgarian": "Bulgarian", "hungarian": "Hungarian", "latvian": "Latvian",
    "slovak": "Slovak", "czech": "Czech", "greek": "Greek", "turkish": "Turkish", "albanian": "Albanian",
    "russian": "Russian", "ukrainian": "Ukrainian", "somali": "Somali", "tigrinya": "Tigrinya",
    "amharic": "Amharic", "swahili": "Swahili", "yoruba": "Yoruba", "akan": "Akan", "shona": "Shona",
    "cantonese": "Cantonese", "mandarin": "Mandarin", "chinese_other": "Chinese (other)", "vietnamese": "Vietnamese",
    "tagalog": "Tagalog or Filipino", "thai": "Thai", "japanese": "Japanese", "korean": "Korean",
    "nepalese": "Nepalese", "sinhala": "Sinhala", "malayalam": "Malayalam", "telugu": "Telugu",
    "marathi": "Marathi", "hebrew": "Hebrew", "bsl": "British Sign Language",
}
#: residents of these main languages speak English or Welsh: no ESOL need
NOT_ESOL = frozenset({"english", "welsh"})
_ALIASES = {
    "punjabi": "panjabi", "farsi": "persian", "persianfarsi": "persian", "persianorfarsi": "persian",
    "dari": "persian", "sorani": "kurdish",
    "kurmanji": "kurdish", "bengalisylhetiandchatgaya": "bengali", "bengaliwithsylhetiandchatgaya": "bengali",
    "bangla": "bengali", "sylheti": "bengali", "cantonesechinese": "cantonese", "mandarinchinese": "mandarin",
    "allotherchinese": "chinese_other", "chinese": "chinese_other", "filipino": "tagalog",
    "tagalogfilipino": "tagalog", "twifante": "akan", "twi": "akan", "britishsignlanguage": "bsl",
    "englishenglishorwelshinwales": "english",
    "englishenglishorwelshifinwales": "english",
    "welshorcymraeginwales": "welsh", "welshcymraeg": "welsh", "welshorcymraeg": "welsh", "cymraeg": "welsh",
    "nepali": "nepalese", "pushto": "pashto", "pakhto": "pashto", "tigrigna": "tigrinya",
}


def _key(text: str) -> str:
    return re.sub(r"[^a-z]", "", str(text).lower())


@lru_cache(maxsize=4096)
def language_slug(text: str) -> str | None:
    """Return the slug of a language named in a census label's last part or a provider's list.

    None when it is not one the vocabulary knows.
    """
    key = _key(text)
    if key in _ALIASES:
        return _ALIASES[key]
    for slug, label in LANGUAGES.items():
        if key in (_key(slug), _key(label)):
            return slug
    return None


def language_label(slug: str) -> str:
    """Return the name shown for a language's slug."""
    return LANGUAGES.get(slug, slug.replace("_", " ").title())
