"""Search and pagination."""


def test_search_matches_title_or_body_case_insensitively(api, tag):
    in_title = api.create(title="Quarterly REPORT", tags=[tag])
    in_body = api.create(title="Misc", body="the report is late", tags=[tag])
    api.create(title="Other", body="nothing here", tags=[tag])
    listing = api.get(f"/notes?tag={tag}&q=report").json
    assert [n["id"] for n in listing["notes"]] == [in_title["id"], in_body["id"]]


def test_pagination_with_limit_offset_and_total(api, tag):
    ids = [api.create(title=f"p{i}", tags=[tag])["id"] for i in range(5)]
    listing = api.get(f"/notes?tag={tag}&limit=2&offset=2").json
    assert [n["id"] for n in listing["notes"]] == ids[2:4]
    assert listing["total"] == 5


def test_invalid_limit_is_400(api):
    for query in ("limit=0", "limit=101", "limit=abc", "offset=-1"):
        assert api.get(f"/notes?{query}").status == 400, query


def test_unknown_tag_finds_nothing(api, tag):
    assert api.get(f"/notes?tag={tag}-none").json == {"notes": [], "total": 0}
