"""Refusing bad requests with a JSON error."""


def test_missing_title_is_400(api):
    response = api.post("/notes", {"body": "no title"})
    assert response.status == 400
    assert "error" in response.json


def test_invalid_json_is_400(api):
    response = api.post("/notes", raw=b"{not json")
    assert response.status == 400
    assert "error" in response.json


def test_unknown_note_is_404(api):
    response = api.get("/notes/987654321")
    assert response.status == 404
    assert "error" in response.json
