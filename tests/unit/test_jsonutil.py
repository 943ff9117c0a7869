"""The JSON writer: the standard library's output, faster; values orjson refuses still written."""

from __future__ import annotations

import json

from xen2kvm.jsonutil import dump_json


def test_same_text_as_the_standard_library_for_plain_values() -> None:
    value = {"guests": [{"a": 1, "b": [1.5, None, True], "c": {}, "d": []}], "e": "x"}
    assert dump_json(value) == json.dumps(value, indent=2)


def test_undecodable_guest_text_and_huge_integers_are_still_written() -> None:
    value = {"hostname": "bad\udcff", "n": 2**70, "name": "Grüße"}
    text = dump_json(value)
    assert json.loads(text) == value
