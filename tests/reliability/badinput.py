"""Bad input, as hypothesis strategies: malformed JSON, wrong types, huge fields, unicode edge
cases, injection strings, and planted personal data that must never come out anywhere."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Planted personal data: distinctive, so that a scan cannot mistake anything else for them.
PII_NAMES = ["Nguyễn Thị Zephyrine", "Trần Văn Quixotelle", "Lê Hoàng Xyloquân"]
PII_NAME_TOKENS = ["Zephyrine", "Quixotelle", "Xyloqu"]
PII_IDS = ["079190001234", "001099008765", "038205117733"]  # 12-digit citizen identity numbers
PII_PHONES = ["0987001122", "0912000333", "0356667788"]
PII_VALUES = PII_NAMES + PII_IDS + PII_PHONES + ["+84 912 000 333", "0912 000 333"]
PII_KEYS = ["citizen_name", "ho_ten", "cccd", "citizen_id", "phone", "so_dien_thoai", "address",
            "dob", "name"]

INJECTIONS = [
    "' OR '1'='1", "'; DROP TABLE assists; --", "\"; DELETE FROM outbox; --", "1; SELECT pg_sleep(5)",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "{{7*7}}", "${7*7}",
    "${jndi:ldap://127.0.0.1/a}", "../../../../etc/passwd", "..\\..\\windows\\win.ini", "%00",
    "%0d%0aSet-Cookie:%20x=1", "\r\nX-Injected: 1", "$(id)", "`id`", "|| ls", "%s%s%s%n",
    "\\", "\\u0000", "null", "undefined", "NaN", "-1", "0", "9" * 40, "true",
    "__proto__", "constructor", "{\"$gt\": \"\"}", "*", "' UNION SELECT token FROM tokens --",
]
UNICODE_EDGES = [
    "e" + "\u0301" * 200,                         # a combining-mark pile
    "Nguye\u0302\u0303n Thi\u0323",                # decomposed Vietnamese (NFD)
    "\u202eevil\u202c", "\u200f\u05e9\u05dc\u05d5\u05dd", "\u0627\u0644\u0633\u0644\u0627\u0645",
    "\u200b\u200c\u200d\u2060", "\ufeffbom", "\x00", "a\x00b", "\x01\x02\x1b[31m",
    "👨‍👩‍👧‍👦", "\U0010ffff", "\uffff", "\u00ad", "ǅ", "İ", "ß" * 50, "\u2028\u2029",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "Z̸̢̛̗̻̪̦̥̜̓̊͒̀̃̋ͅa̴̢̫̪̼̠̘̍̽͜ļ̷̦̠͍͚̦̀̈́̄̾g̵̨̛̯̤̈́̽̏̏̃͜o̶̠̪̙̮̒̏͗̈́",
]
# JSON text that no JSON parser accepts, or that is valid JSON of the wrong shape.
MALFORMED = [
    b"", b"{", b"}", b"[", b'{"a":}', b"[1,2", b"{'a': 1}", b'{"a": 1,}', b"nul", b"tru",
    b"\xff\xfe\x00\x00", b"\xef\xbb\xbf{}", b"\xc0\xaf", b"\x80\x81\x82", b'{"a": "\xff"}',
    b'"just a string"', b"12345678901234567890123456789", b'{"a": 1e999999}', b"NaN",
    b"[" * 30000, b'{"a":' * 20000, b"\x00" * 64, b'{"a": 1} trailing', b"{}{}",
    b'{"member_id": "\\ud800"}', b'{"field": "\\udfff\\ud800"}', b"[]", b"[{}]", b"null", b"0",
]


def huge(size: int) -> str:
    return "Ữ" * (size // 3)


junk_scalars = st.one_of(
    st.sampled_from(INJECTIONS + UNICODE_EDGES + PII_VALUES),
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=80),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.none(),
    st.sampled_from([huge(70_000), huge(400_000), "9" * 5000]),
)
junk_values = st.one_of(
    junk_scalars,
    st.lists(junk_scalars, max_size=5),
    st.dictionaries(st.text(max_size=10), junk_scalars, max_size=4),
    st.recursive(junk_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=10),
)


def encode(body: Any) -> bytes:
    """JSON as a sloppy client writes it; lone surrogates survive as \\u escapes."""
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=True).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body, ensure_ascii=True, allow_nan=True).encode()


junk_no_pii = st.one_of(
    st.sampled_from(INJECTIONS + UNICODE_EDGES), st.text(max_size=200),
    st.integers(min_value=-(2**70), max_value=2**70), st.booleans(), st.none(),
    st.sampled_from([huge(70_000), huge(400_000)]))


@st.composite
def mutated_json(draw: st.DrawFn, base: dict[str, Any],
                 free_text: frozenset[str] = frozenset()) -> tuple[bytes, str]:
    """A valid body made bad in one way; returns (bytes, how). Keys in `free_text` are
    published as written when valid (reasons), so they never get planted personal data."""
    how = draw(st.sampled_from(["malformed", "replace", "replace", "replace", "extra_pii",
                                "drop", "nest", "not_object", "duplicate_key", "huge_body"]))
    body = dict(base)
    if how == "malformed":
        return draw(st.sampled_from(MALFORMED)), how
    if how == "replace":
        key = draw(st.sampled_from(sorted(base)))
        body[key] = draw(junk_no_pii if key in free_text else junk_values)
    elif how == "extra_pii":
        body[draw(st.sampled_from(PII_KEYS))] = draw(st.sampled_from(PII_VALUES))
    elif how == "drop":
        body.pop(draw(st.sampled_from(sorted(base))), None)
        if not body:
            body = {"unexpected": draw(junk_scalars)}
    elif how == "nest":
        key = draw(st.sampled_from(sorted(base)))
        body[key] = json.loads("[" * 200 + "1" + "]" * 200)
    elif how == "not_object":
        return encode(draw(st.lists(junk_scalars, max_size=3))), how
    elif how == "duplicate_key":
        key = draw(st.sampled_from(sorted(base)))
        text = encode(body).decode()
        return (text[:-1] + f', "{key}": ' + json.dumps(draw(junk_no_pii),
                                                       allow_nan=True) + "}").encode(), how
    elif how == "huge_body":
        key = draw(st.sampled_from(sorted(base)))
        body[key] = huge(draw(st.sampled_from([900_000, 1_200_000, 3_000_000])))
    return encode(body), how


def contains_pii(text: str) -> list[str]:
    """The planted values found in a text (names by their distinctive token)."""
    found = [t for t in PII_NAME_TOKENS if t in text]
    for number in PII_IDS + PII_PHONES:
        spaced = f"{number[:4]} {number[4:7]} {number[7:]}"
        international = "84" + number[1:]
        if number in text or spaced in text or international in text:
            found.append(number)
    return found
