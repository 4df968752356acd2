"""Validation: every bad request is a 400 with a JSON error, and changes nothing."""

import pytest


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "   "},
        {"title": "x" * 101},
        {"title": 42},
        {"title": "ok", "body": ["not", "a", "string"]},
        {"title": "ok", "tags": "not-a-list"},
        {"title": "ok", "tags": ["Has Space"]},
        {"title": "ok", "tags": [f"t{i}" for i in range(11)]},
        {"title": "ok", "colour": "red"},
    ],
    ids=["blank", "too-long", "not-text", "body-list", "tags-string", "tag-space", "eleven-tags", "unknown-field"],
)
def test_invalid_note_is_400(api, payload):
    response = api.post("/notes", payload)
    assert response.status == 400
    assert isinstance(response.json.get("error"), str)


def test_non_object_json_is_400(api):
    assert api.post("/notes", [1, 2, 3]).status == 400


def test_refused_note_is_not_stored(api, tag):
    assert api.post("/notes", {"title": "", "tags": [tag]}).status == 400
    assert api.get(f"/notes?tag={tag}").json["total"] == 0


def test_unknown_path_is_404_json(api):
    response = api.get("/no/such/thing")
    assert response.status == 404
    assert "error" in response.json
