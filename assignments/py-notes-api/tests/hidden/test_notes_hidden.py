"""Creating and reading: the cases a quick solution gets wrong."""

from concurrent.futures import ThreadPoolExecutor


def test_ids_are_unique_under_concurrent_creates(api, tag):
    with ThreadPoolExecutor(max_workers=8) as pool:
        notes = list(pool.map(lambda i: api.create(title=f"n{i}", tags=[tag]), range(24)))
    assert len({n["id"] for n in notes}) == 24
    assert api.get(f"/notes?tag={tag}").json["total"] == 24


def test_body_and_tags_have_defaults(api):
    note = api.create(title="Bare")
    assert note["body"] == "" and note["tags"] == []


def test_title_is_trimmed(api):
    assert api.create(title="  Padded  ")["title"] == "Padded"


def test_duplicate_tags_are_kept_once_in_order(api, tag):
    note = api.create(title="Tags", tags=[tag, "b", tag, "a", "b"])
    assert note["tags"] == [tag, "b", "a"]
