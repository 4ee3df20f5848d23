"""Importing contacts from a table: the column guesses, the plan of every row, the report
the user reads, nothing written before the confirmation, and what the confirmation writes;
the upload stash that keeps the table between the steps. A real SQLite file (`store`)."""

from __future__ import annotations

import pytest

from appliance.contacts import importing, service
from appliance.contacts.tabular import Table, read_table
from appliance.contacts.uploads import UploadStash
from appliance.store import consent as consent_store
from appliance.store import contacts as book
from appliance.store.models import Contact, ContactGroup, ContactNumber

A, B, C = "+8613800138000", "+8613900139000", "+8613700137000"


@pytest.mark.parametrize("columns, roles", [
    (["姓名", "手机号", "分组", "备注", "城市"], ["name", "number", "group", "note", "field"]),
    (["名字", "电话", "组", "是否同意"], ["name", "number", "group", "consent"]),
    (["Name", "Mobile Phone", "Groups", "Consent", "Company"],
     ["name", "number", "group", "consent", "field"]),
    (["name", "phone", "phone_2", "name"], ["name", "number", "number", "field"]),
    (["#1", "#2"], ["number", "skip"]),
])
def test_roles_guessed_from_headers(columns, roles):
    rows = [["x"] * len(columns)]
    if columns[0] == "#1":
        rows = [["13800138000", ""]]
    if "phone_2" in columns:
        rows = [["a", "1", "13800138000", "b"]]
    assert importing.guess_mapping(Table(columns=columns, rows=rows)) == roles


def test_an_unnamed_column_of_numbers_is_a_number_column():
    table = Table(columns=["who", "what"], rows=[["Ann", "138 0013 8000"], ["Bo", "+86 139"]])
    assert importing.guess_mapping(table) == ["field", "number"]


@pytest.mark.parametrize("roles, code", [
    (["name", "field", "field"], "no_number"),
    (["name", "number", "name"], "twice"),
    (["name", "number", "bogus"], "unknown_role"),
    (["name", "number"], "length"),
])
def test_a_mapping_that_cannot_import_is_refused(roles, code):
    with pytest.raises(importing.MappingError) as err:
        importing.check_mapping(Table(columns=["a", "b", "c"]), roles)
    assert err.value.code == code


CSV = """姓名,手机号,分组,同意,城市
张三,13800138000,销售部,是,杭州
李四,1380013800,销售部,,
王五,"13900139000; 13700137000","销售部、VIP",否,
赵六,138 0013 8000,,,
钱七,,,,
孙八,13600136000,,也许,
周九,13500135000,新组,,北京
"""


def test_plan_marks_invalid_rows_and_duplicates_within_the_file():
    table = read_table(CSV.encode("gbk"), "book.csv")
    roles = importing.guess_mapping(table)
    assert roles == ["name", "number", "group", "consent", "field"]
    rows = importing.plan_rows(table, roles, "CN")
    by_line = {r.line: r for r in rows}
    assert (by_line[2].status, by_line[2].numbers, by_line[2].groups, by_line[2].consent,
            by_line[2].fields) == ("new", [A], ["销售部"], "granted", {"城市": "杭州"})
    assert (by_line[3].status, by_line[3].problem, by_line[3].detail) == \
        ("invalid", "bad_number", "1380013800")
    assert by_line[4].numbers == [B, C] and by_line[4].groups == ["销售部", "VIP"]
    assert by_line[4].consent == "withdrawn"
    assert (by_line[5].status, by_line[5].detail) == ("duplicate", "2")
    assert by_line[6].problem == "no_number"
    assert (by_line[7].problem, by_line[7].detail) == ("bad_consent", "也许")
    assert by_line[8].status == "new"


async def test_preview_writes_nothing_and_reports(store):
    await store.write(lambda: book.create_contact("Old", [B]))
    await store.write(lambda: book.create_group("VIP"))
    table = read_table(CSV.encode(), "book.csv")
    roles = importing.guess_mapping(table)
    before = await store.read(lambda: (Contact.select().count(), ContactGroup.select().count(),
                                       ContactNumber.select().count()))
    rows, report = await service.plan_import(store, table, roles, "CN")
    after = await store.read(lambda: (Contact.select().count(), ContactGroup.select().count(),
                                      ContactNumber.select().count()))
    assert before == after == (1, 1, 1)
    assert (report.total, report.new, report.existing, report.invalid, report.duplicate) == \
        (7, 2, 1, 3, 1)
    assert [r.line for r in report.invalid_rows] == [3, 6, 7]
    assert report.existing_rows[0].contact_name == "Old"
    assert report.groups == ["销售部", "VIP", "新组"]
    assert report.new_groups == ["销售部", "新组"]
    assert report.fields == ["城市"]


async def test_confirm_imports_the_good_rows_and_skips_or_updates_existing(store):
    old = await store.write(lambda: book.create_contact("Old", [B], fields={"k": "v"}))
    table = read_table(CSV.encode(), "book.csv")
    roles = importing.guess_mapping(table)
    done = await service.run_import(store, table, roles, "CN", update_existing=False,
                                    detail="test")
    assert (done["created"], done["updated"], done["skipped"], done["invalid"],
            done["duplicate"]) == (2, 0, 1, 3, 1)
    assert sorted(done["groups_made"]) == ["新组", "销售部"]
    page = await store.read(lambda: book.page_contacts(limit=10))
    assert sorted(c["name"] for c in page["contacts"]) == ["Old", "周九", "张三"]
    zhang = await store.read(lambda: book.contact_for_number(A))
    assert [g["name"] for g in zhang["groups"]] == ["销售部"]
    assert zhang["fields"] == {"城市": "杭州"}
    consent = await store.read(lambda: consent_store.of_numbers([A, B]))
    assert consent[A]["state"] == "granted" and consent[A]["source"] == "imported"
    assert B not in consent  # skipped: nothing changed for the existing contact
    assert (await store.read(lambda: book.get_contact(old["id"])))["name"] == "Old"

    # Again, updating: the existing contact takes the row's name, numbers, groups, consent.
    done = await service.run_import(store, table, roles, "CN", update_existing=True)
    assert (done["created"], done["updated"]) == (0, 3)
    wang = await store.read(lambda: book.get_contact(old["id"]))
    assert wang["name"] == "王五" and wang["numbers"] == [B, C]
    assert sorted(g["name"] for g in wang["groups"]) == ["VIP", "销售部"]
    assert wang["fields"] == {"k": "v"}
    assert (await store.read(lambda: consent_store.of_numbers([C])))[C]["state"] == "withdrawn"


async def test_import_into_a_chosen_group_in_batches(store, monkeypatch):
    group = await store.write(lambda: book.create_group("Everyone"))
    table = Table(columns=["#1"], rows=[[f"1380013{i:04d}"] for i in range(5)])
    seen = []
    monkeypatch.setattr(service, "IMPORT_BATCH", 2)
    done = await service.run_import(store, table, ["number"], "CN", update_existing=True,
                                    group_ids=[group["id"]], progress=lambda *a: seen.append(a))
    assert done["created"] == 5 and seen == [(2, 5), (4, 5), (5, 5)]
    assert (await store.read(lambda: book.get_group(group["id"])))["members"] == 5


async def test_export_round_trips_through_import(store):
    g = await store.write(lambda: book.create_group("VIP"))
    await store.write(lambda: book.create_contact("张三", [A, B], fields={"城市": "杭州"},
                                                  group_ids=[g["id"]]))
    await store.write(lambda: consent_store.record_many([A, B], "granted", "staff"))
    columns, rows = await service.export_table(store)
    assert columns == ["name", "numbers", "groups", "consent", "note", "城市"]
    assert rows == [["张三", f"{A}; {B}", "VIP", "granted", "", "杭州"]]
    table = Table(columns=columns, rows=rows)
    assert importing.guess_mapping(table) == ["name", "number", "group", "consent", "note",
                                              "field"]
    assert await service.export_table(store, group_id=g["id"] + 1) == (columns[:5], [])


async def test_keyset_pages_walk_the_book_both_ways(store):
    def fill():
        for i in range(25):
            book.create_contact(f"n{i % 5}", [f"+86138{i:08d}"])
    await store.write(fill)
    seen, after = [], None
    while True:
        page = await store.read(lambda after=after: book.page_contacts(after=after, limit=7))
        seen += [c["id"] for c in page["contacts"]]
        if not page["has_next"]:
            break
        after = page["contacts"][-1]["id"]
    everything, total = await store.read(lambda: book.list_contacts(limit=100))
    assert seen == [c["id"] for c in everything] and total == 25
    back = await store.read(lambda: book.page_contacts(before=seen[14], limit=7))
    assert [c["id"] for c in back["contacts"]] == seen[7:14]
    assert back["has_prev"] and back["has_next"]
    found = await store.read(lambda: book.page_contacts("138 0000-0003"))
    assert [c["numbers"] for c in found["contacts"]] == [["+8613800000003"]]


def test_stash_keeps_a_table_for_its_owner_only(tmp_path):
    now = [1000.0]
    stash = UploadStash(tmp_path / "up", ttl=60, clock=lambda: now[0])
    table = Table(columns=["a"], rows=[["1"]], row_numbers=[2])
    token = stash.put("session-1", "x.csv", table)
    assert stash.get("session-2", token) is None
    assert stash.get("session-1", "../../etc/passwd") is None
    got = stash.get("session-1", token)
    assert got.table == table and got.filename == "x.csv"
    assert stash.set_roles("session-1", token, ["number"])
    assert stash.get("session-1", token).roles == ["number"]
    tokens = []
    for i in range(3):
        now[0] += 1
        tokens.append(stash.put("session-1", f"{i}.csv", table))
    assert stash.get("session-1", token) is None  # an owner keeps three
    assert all(stash.get("session-1", t) for t in tokens)
    now[0] += 59
    assert stash.get("session-1", tokens[0]) is None  # 62 s old
    assert stash.get("session-1", tokens[2])
    now[0] += 10
    assert stash.sweep() == 2 and list((tmp_path / "up").iterdir()) == []
    stash.close()
    assert not (tmp_path / "up").exists()


@pytest.mark.parametrize("raw", [
    "13800138000", "138 0013 8000", "138-0013-8000", "(138)00138000", "+86 138 0013 8000",
    "19912345678", "17012345678", "14012345678", "10012345678", "0571 8888 8888",
    "1380013800", "+8613800138000", "BANK", "10086", "1380013",
])
def test_the_import_fast_path_agrees_with_the_one_normaliser(raw):
    from appliance.contacts.numbers import InvalidNumber, stored_number

    def outcome(fn):
        try:
            return fn(raw, "CN")
        except InvalidNumber:
            return "invalid"

    assert outcome(importing._stored) == outcome(stored_number)


async def test_consent_of_many_numbers_in_one_go(store):
    await store.write(lambda: consent_store.record(C, "granted", "staff"))
    await store.write(lambda: consent_store.record_states(
        {A: "granted", B: "withdrawn", C: "unknown"}, "imported", "list.csv"))
    got = await store.read(lambda: consent_store.of_numbers([A, B, C]))
    assert (got[A]["state"], got[B]["state"], C in got) == ("granted", "withdrawn", False)
    assert got[A]["source"] == "imported" and got[A]["detail"] == "list.csv"
    await store.write(lambda: consent_store.record_states({A: "withdrawn"}, "imported"))
    assert (await store.read(lambda: consent_store.of_numbers([A])))[A]["state"] == "withdrawn"
    with pytest.raises(ValueError):
        consent_store.record_states({A: "maybe"}, "imported")


async def test_a_search_pages_and_counts_in_one_pass(store, monkeypatch):
    monkeypatch.setattr(book, "SEARCH_CAP", 12)

    def fill():
        for i in range(20):
            book.create_contact(f"Wang {i:02d}", [f"+86139{i:08d}"])
        book.create_contact("Li", ["+8613700000000"])
    await store.write(fill)
    first = await store.read(lambda: book.search_contacts("wang", limit=5))
    assert (first["total"], first["capped"], first["has_prev"], first["has_next"]) == \
        (12, True, False, True)
    names, after = [], None
    while True:
        page = await store.read(lambda after=after: book.search_contacts("wang", after=after,
                                                                          limit=5))
        names += [c["name"] for c in page["contacts"]]
        if not page["has_next"]:
            break
        after = page["contacts"][-1]["id"]
    assert names == [f"Wang {i:02d}" for i in range(20)]  # past the cap: keyset pages
    ninth = (await store.read(lambda: book.contact_for_number("+8613900000009")))["id"]
    back = await store.read(lambda: book.search_contacts("wang", before=ninth, limit=5))
    assert [c["name"] for c in back["contacts"]] == [f"Wang {i:02d}" for i in range(4, 9)]
    assert back["has_prev"] and back["has_next"]
    one = await store.read(lambda: book.search_contacts("139 0000 0007"))
    assert (one["total"], one["capped"], [c["name"] for c in one["contacts"]]) == \
        (1, False, ["Wang 07"])


def test_stash_keeps_roles_given_with_the_upload(tmp_path):
    stash = UploadStash(tmp_path / "up")
    table = Table(columns=["name", "phone"], rows=[["A", "13800138000"]], row_numbers=[2])
    token = stash.put("session-1", "x.csv", table, roles=["name", "number"])
    assert stash.get("session-1", token).roles == ["name", "number"]
    assert stash.get("session-1", stash.put("session-1", "y.csv", table)).roles == []
    stash.close()
