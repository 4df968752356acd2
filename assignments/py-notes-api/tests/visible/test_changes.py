"""Updating and deleting notes."""


def test_delete_then_get_is_404(api):
    note = api.create(title="Short-lived")
    assert api.delete(f"/notes/{note['id']}").status == 204
    assert api.get(f"/notes/{note['id']}").status == 404


def test_patch_changes_only_the_given_fields(api, tag):
    note = api.create(title="Draft", body="keep me", tags=[tag])
    response = api.patch(f"/notes/{note['id']}", {"title": "Final"})
    assert response.status == 200
    assert response.json == {"id": note["id"], "title": "Final", "body": "keep me", "tags": [tag]}
    assert api.get(f"/notes/{note['id']}").json["title"] == "Final"
