"""Creating, reading and listing notes."""


def test_health_answers_ok(api):
    response = api.get("/health")
    assert response.status == 200
    assert response.json == {"status": "ok"}


def test_create_returns_201_and_the_note(api, tag):
    response = api.post("/notes", {"title": "Groceries", "body": "eggs, milk", "tags": [tag]})
    assert response.status == 201
    note = response.json
    assert isinstance(note["id"], int)
    assert (note["title"], note["body"], note["tags"]) == ("Groceries", "eggs, milk", [tag])


def test_create_sets_location_header(api):
    note = api.post("/notes", {"title": "Where am I"})
    assert note.headers["location"] == f"/notes/{note.json['id']}"


def test_get_returns_the_created_note(api, tag):
    created = api.create(title="Read me", body="twice", tags=[tag])
    response = api.get(f"/notes/{created['id']}")
    assert response.status == 200
    assert response.json == created
    assert response.headers["content-type"].startswith("application/json")


def test_list_contains_notes_in_id_order(api, tag):
    first = api.create(title="one", tags=[tag])
    second = api.create(title="two", tags=[tag])
    listing = api.get("/notes").json
    ids = [n["id"] for n in listing["notes"]]
    assert first["id"] in ids and second["id"] in ids
    assert ids == sorted(ids)
    assert listing["total"] >= 2
