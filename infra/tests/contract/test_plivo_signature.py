"""The contract test's signer against Plivo's own vectors (docs/plivo.md, "Test vectors")."""

from plivo_signature import base_string, sign_v3

NONCE = "31627761595286130198"
TOKEN = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4"
PARAMS = [
    ("Direction", "outbound"),
    ("From", "19792014278"),
    ("ALegUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
    ("CallStatus", "in-progress"),
    ("BillRate", "0.002"),
    ("ParentAuthID", "MANWVLYTK4ZWU1YTY4QA"),
    ("To", "sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com"),
    ("ALegRequestUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
    ("CallUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
    ("RequestUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
    ("SIP-H-To", "<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1"),
    ("SessionStart", "2020-04-08 11:34:33.238707"),
    ("Event", "StartApp"),
]
URL = "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml"


def test_every_v3_vector_from_plivos_sdks():
    vectors = [
        ("POST", URL + "/?a=b&c=d", "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c="),
        ("GET", URL + "/?a=b&c=d", "UBq8jAtd32wR8EK9VgxbBn4n5rpI/l1H9iN4WfSEHFQ="),
        ("POST", URL, "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="),
        ("GET", URL, "i/MQsaQSAd6fiKhOh2qeeeLHZ9faldADSb3/7+Akfbc="),
    ]
    for method, url, expected in vectors:
        assert sign_v3(method, url, PARAMS, NONCE, TOKEN) == expected, (method, url)


def test_another_token_gives_another_signature():
    assert sign_v3("POST", URL, PARAMS, NONCE, TOKEN + "x") != "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="


def test_non_ascii_values_are_signed_as_utf8():
    assert base_string("POST", "https://x.test/cb", [("Text", "héllo €")]) == "https://x.test/cb?Texthéllo €"
