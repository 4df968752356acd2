"""Finding notes."""


def test_filter_by_tag(api, tag):
    tagged = api.create(title="tagged", tags=[tag, "misc"])
    api.create(title="untagged", tags=["misc"])
    listing = api.get(f"/notes?tag={tag}").json
    assert [n["id"] for n in listing["notes"]] == [tagged["id"]]
    assert listing["total"] == 1
