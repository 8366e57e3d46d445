"""The customer's language, told by script: Arabic or English, robust to digits, punctuation,
links and the Latin product names Arabic speakers write inside their sentences."""

from __future__ import annotations

import pytest

from retrieval.language import detect, language_name, tells_apart, words


@pytest.mark.parametrize(
    "message",
    [
        "كم سعر تأجير الدراجة ليوم واحد؟",
        "مَرْحَبًا، هل تفتحون يوم الجمعة؟",  # vowel signs and the Arabic comma
        "كم سعر iPhone 15 Pro Max؟",  # more Latin words than Arabic ones
        "هل يدعم التطبيق Apple Pay و Google Pay؟",
        "أين أجد الفاتورة على https://shop.example.com/account/invoices?lang=en",
        "راسلوني على support@northwind.example من فضلكم",
        "السعر ١٫٥ دينار أو 1.5 JOD؟",  # Arabic-Indic and Latin digits
        "ﻣﺮﺣﺒﺎ",  # presentation forms (text copied from an old PDF)
        "ما هو؟",
        "چطور می‌توانم سفارش بدهم؟",  # Persian: the same script, read as Arabic
    ],
)
def test_arabic_messages_are_arabic(message: str) -> None:
    assert detect(message) == "ar"


@pytest.mark.parametrize(
    "message",
    [
        "How much is a day's bike rental?",
        "What does مرحبا mean?",  # one Arabic word inside an English sentence
        "How do I say شكرا جزيلا in Arabic?",
        "Is https://متجر.example/ar the Arabic shop?",  # the link is not a word
        "ok",
        "Où est la boutique ?",  # any Latin-script language reads as English
    ],
)
def test_english_messages_are_english(message: str) -> None:
    assert detect(message) == "en"


@pytest.mark.parametrize("message", ["", "   ", "12345 ?!", "١٢٣ ٪ ؟", "👍🙂", "Привет", "你好"])
def test_messages_in_neither_script_have_no_language(message: str) -> None:
    assert detect(message) is None


def test_words_keep_vowel_signs_and_drop_digits_punctuation_and_links() -> None:
    assert words("مَرْحَبًا، رقم 42 على www.example.com/x-y؟ thanks!") == [
        "مَرْحَبًا",
        "رقم",
        "على",
        "thanks",
    ]


def test_a_code_is_named_for_the_prompt() -> None:
    assert [language_name(c) for c in ("ar", "en", None, "fr")] == ["Arabic", "English", None, None]


def test_latin_script_is_english_only_for_a_chatbot_that_speaks_english_or_arabic() -> None:
    known = (None, "", "english", "Arabic", "en", "multi", "Arabic and English")
    assert all(tells_apart(d) for d in known)
    assert not tells_apart("french") and not tells_apart("English and French")
