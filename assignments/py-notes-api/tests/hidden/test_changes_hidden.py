"""Updates and deletes: replace means replace, and missing notes are 404."""


def test_put_replaces_every_field(api, tag):
    note = api.create(title="Old", body="old body", tags=[tag])
    response = api.put(f"/notes/{note['id']}", {"title": "New"})
    assert response.status == 200
    assert response.json == {"id": note["id"], "title": "New", "body": "", "tags": []}


def test_put_without_title_is_400(api):
    note = api.create(title="Stays")
    assert api.put(f"/notes/{note['id']}", {"body": "x"}).status == 400
    assert api.get(f"/notes/{note['id']}").json["title"] == "Stays"


def test_patch_validates_fields(api):
    note = api.create(title="Valid")
    assert api.patch(f"/notes/{note['id']}", {"title": ""}).status == 400
    assert api.get(f"/notes/{note['id']}").json["title"] == "Valid"


def test_changes_to_missing_notes_are_404(api):
    assert api.put("/notes/987654321", {"title": "x"}).status == 404
    assert api.patch("/notes/987654321", {"title": "x"}).status == 404
    assert api.delete("/notes/987654321").status == 404


def test_delete_twice_is_404(api):
    note = api.create(title="Once")
    assert api.delete(f"/notes/{note['id']}").status == 204
    assert api.delete(f"/notes/{note['id']}").status == 404


def test_wrong_method_is_405_with_allow(api):
    response = api.request("DELETE", "/notes")
    assert response.status == 405
    assert "GET" in response.headers.get("allow", "") and "POST" in response.headers.get("allow", "")
