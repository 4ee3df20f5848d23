"""The address book's pages over real HTTP (no browser): the list and its search, a contact's
form and its errors, groups, the import's steps (nothing written before the confirmation,
the upload kept on the box for its own session only), the export, and who may do what."""

from __future__ import annotations

import io
import re

import httpx
import openpyxl
import pytest

from appliance.store import contacts as book
from tests.web.audit_entries import audit_entry_for
from tests.web.test_console_core import _csrf, client, log_in


@pytest.fixture
def as_role(console):
    opened = []

    def make(role: str, lang: str = "en") -> httpx.Client:
        http = client(console, lang)
        name, password = console.users[role]
        assert log_in(http, name, password).status_code in (302, 303)
        opened.append(http)
        return http

    yield make
    for http in opened:
        http.close()


def _read(console, fn):
    async def run():
        return await console.appliance.store.read(fn)
    return console.run(run())


def _write(console, fn):
    async def run():
        return await console.appliance.store.write(fn)
    return console.run(run())


def _token(http: httpx.Client, path: str = "/console/contacts/new") -> str:
    return _csrf(http.get(path).text)


def test_add_edit_and_the_errors_next_to_their_fields(console, as_role):
    http = as_role("operator")
    csrf = _token(http)
    # A bad number: 400, the message under that input, nothing stored.
    r = http.post("/console/contacts", data={"csrf_token": csrf, "name": "Bad Number",
                                             "number": ["1380013800", ""]})
    assert r.status_code == 400
    assert re.search(r'id="number-0-error">Not a valid phone number', r.text)
    assert 'value="1380013800"' in r.text  # what was typed is kept
    assert _read(console, lambda: book.count_contacts("Bad Number")) == 0
    # A good one, with a custom field and consent.
    r = http.post("/console/contacts", data={
        "csrf_token": csrf, "name": "Zhang <b>San</b>", "number": ["138 0013 8101", ""],
        "field_key": ["城市", ""], "field_value": ["杭州", ""], "consent": "granted"},
        follow_redirects=False)
    assert r.status_code in (302, 303)
    contact_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    page = http.get(f"/console/contacts/{contact_id}?saved=1").text
    assert "Zhang &lt;b&gt;San&lt;/b&gt;" in page and "<b>San</b>" not in page
    assert 'value="+8613800138101"' in page and 'value="杭州"' in page
    # A second contact may not take that number: the error names the owner, next to it.
    r = http.post("/console/contacts", data={"csrf_token": csrf, "name": "Li",
                                             "number": ["", "+8613800138101"]})
    assert r.status_code == 400
    assert re.search(r'id="number-1-error">This number already belongs to Zhang', r.text)
    assert f'href="/console/contacts/{contact_id}"' in r.text
    # Edit: rename, and the list finds the contact by name and by the number as typed.
    r = http.post(f"/console/contacts/{contact_id}", data={
        "csrf_token": csrf, "name": "Zhang San", "number": ["+8613800138101"],
        "consent": "granted"})
    assert r.status_code == 200 and 'id="saved"' in r.text
    assert "Zhang San" in http.get("/console/contacts", params={"q": "zhang"}).text
    assert "Zhang San" in http.get("/console/contacts", params={"q": "138-0013-8101"}).text
    r = http.post(f"/console/contacts/{contact_id}/delete", data={"csrf_token": csrf},
                  follow_redirects=False)
    assert r.status_code in (302, 303)
    assert http.get(f"/console/contacts/{contact_id}").status_code == 404


def test_groups_members_and_export(console, as_role):
    http = as_role("operator")
    csrf = _csrf(http.get("/console/groups").text)
    r = http.post("/console/groups", data={"csrf_token": csrf, "name": "销售部"},
                  follow_redirects=False)
    group_url = r.headers["location"]
    group_id = int(group_url.rsplit("/", 1)[1])
    r = http.post("/console/groups", data={"csrf_token": csrf, "name": "销售部"})
    assert r.status_code == 400 and "exists already" in r.text
    r = http.post(f"{group_url}/members", data={"csrf_token": csrf,
                                                "numbers": "13800138201, 138 0013 8202\n12"})
    assert r.status_code == 400 and "Not valid phone numbers: 12" in r.text
    r = http.post(f"{group_url}/members", data={"csrf_token": csrf,
                                                "numbers": "13800138201，138 0013 8202"})
    assert r.status_code == 200 and "Numbers added to the group: 2." in r.text
    assert "+8613800138202" in r.text
    listing = http.get("/console/groups").text
    assert re.search(r"销售部</a></td><td class=\"num\">2</td>", listing)
    r = http.get("/console/contacts/export", params={"format": "csv", "group": group_id})
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Name,Numbers,Groups,Consent,Note" and len(lines) == 3
    r = http.get("/console/contacts/export", params={"format": "xlsx", "group": group_id})
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in sheet[2]][1] == "+8613800138201"
    r = http.post(f"{group_url}/rename", data={"csrf_token": csrf, "name": "Sales"},
                  follow_redirects=False)
    assert r.status_code in (302, 303)
    assert "Sales" in http.get(group_url).text
    contact_id = _read(console, lambda: book.contact_for_number("+8613800138201"))["id"]
    http.post(f"{group_url}/members/remove", data={"csrf_token": csrf,
                                                   "contact_id": contact_id})
    assert _read(console, lambda: book.get_group(group_id))["members"] == 1
    http.post(f"{group_url}/delete", data={"csrf_token": csrf})
    assert http.get(group_url).status_code == 404


CSV = ("姓名,手机号,分组,城市\r\n"
       "王一,13800138301,导入组,北京\r\n"
       "王二,1380013830,导入组,\r\n"  # ten digits: invalid
       "王三,13800138303,导入组,\r\n"
       "王四,13800138301,,\r\n"  # the same number as row 2
       "王五,,导入组,\r\n")


def _upload(http: httpx.Client, data: bytes, name: str) -> httpx.Response:
    csrf = _csrf(http.get("/console/contacts/import").text)
    return http.post("/console/contacts/import", data={"csrf_token": csrf},
                     files={"file": (name, data, "text/csv")}, follow_redirects=False)


def test_import_steps_write_nothing_before_the_confirmation(console, as_role):
    http = as_role("operator", "zh-CN")
    r = _upload(http, CSV.encode("gbk"), "通讯录.csv")
    assert r.status_code in (302, 303)
    mapping_url = r.headers["location"]
    page = http.get(mapping_url).text
    assert "<option value=\"number\" selected>" in page and "自定义字段" in page
    csrf = _csrf(page)
    # Another user's session cannot use this upload.
    other = as_role("admin")
    assert other.get(mapping_url).status_code == 404
    # No number column: refused next to the mapping.
    r = http.post(mapping_url, data={"csrf_token": csrf, "role-0": "name",
                                     "role-1": "field", "role-2": "group", "role-3": "field"})
    assert r.status_code == 400 and "请指定哪一列是手机号码" in r.text
    r = http.post(mapping_url, data={"csrf_token": csrf, "role-0": "name",
                                     "role-1": "number", "role-2": "group",
                                     "role-3": "field"}, follow_redirects=False)
    preview = http.get(r.headers["location"]).text
    assert re.search(r'id="count-new">2<', preview)
    assert re.search(r'id="count-invalid">2<', preview)
    assert re.search(r'id="count-duplicate">1<', preview)
    assert "手机号码无效：1380013830" in preview and "与第 2 行号码相同" in preview
    assert _read(console, lambda: book.count_contacts("王")) == 0
    assert _read(console, lambda: book.group_by_name("导入组")) is None
    r = http.post(mapping_url + "/confirm", data={"csrf_token": csrf, "existing": "update"},
                  follow_redirects=True)
    assert r.status_code == 200 and str(r.url).endswith("/done")
    assert re.search(r'id="done-created">新增联系人 2 个', r.text)
    assert _read(console, lambda: book.count_contacts("王")) == 2
    assert _read(console, lambda: book.group_by_name("导入组"))["members"] == 2
    # The upload is gone once imported; confirming again is the same one import.
    assert http.get(mapping_url).status_code == 404
    r = http.post(mapping_url + "/confirm", data={"csrf_token": csrf, "existing": "update"},
                  follow_redirects=True)
    assert re.search(r'id="done-created">新增联系人 2 个', r.text)
    assert other.get(mapping_url + "/done").status_code == 404
    assert _read(console, lambda: book.count_contacts("王")) == 2


@pytest.mark.parametrize("data, name, message", [
    (b"", "empty.csv", "The file is empty."),
    (b"   \r\n", "blank.csv", "The file is empty."),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, "old.xls", "Excel 97-2003"),
    (b"%PDF-1.4\n", "doc.pdf", "Upload a CSV or XLSX file."),
    (b"PK\x03\x04broken", "book.xlsx", "may be damaged"),
])
def test_unreadable_uploads_are_named_next_to_the_field(console, as_role, data, name, message):
    r = _upload(as_role("operator"), data, name)
    assert r.status_code == 400
    assert re.search(r'id="file-error">[^<]*' + re.escape(message), r.text)


def test_a_big_upload_passes_the_api_size_limit_up_to_its_own(console, as_role):
    http = as_role("operator")
    rows = "".join(f"大表{i},139{i:08d}\r\n" for i in range(60_000))
    r = _upload(http, ("姓名,手机\r\n" + rows).encode("gb18030"), "big.csv")
    assert len(rows) > 1024 * 1024 and r.status_code in (302, 303)
    assert "60,000" in http.get(r.headers["location"]).text
    r = _upload(http, b"x" * (21 * 1024 * 1024), "huge.csv")
    assert r.status_code == 413 and "too large" in r.text


def test_a_viewer_reads_but_cannot_change(console, as_role):
    made = _write(console, lambda: book.create_contact("Viewer Sees", ["+8613800138401"]))
    http = as_role("viewer")
    listing = http.get("/console/contacts").text
    assert "Viewer Sees" in listing and "/console/contacts/new" not in listing
    page = http.get(f"/console/contacts/{made['id']}")
    assert page.status_code == 200 and 'id="contact-view"' in page.text
    assert "<form method=\"post\" action=\"/console/contacts/" not in page.text
    csrf = _csrf(page.text)  # the layout's log-out form carries it
    for path in ("/console/contacts", f"/console/contacts/{made['id']}",
                 f"/console/contacts/{made['id']}/delete", "/console/groups"):
        r = http.post(path, data={"csrf_token": csrf, "name": "x", "number": "13800138402"})
        assert r.status_code == 403, path
    assert http.get("/console/contacts/import").status_code == 403
    assert http.get("/console/contacts/export").status_code == 403
    assert _read(console, lambda: book.get_contact(made["id"]))["name"] == "Viewer Sees"


def test_every_change_to_the_address_book_is_in_the_audit_log(console, as_role):
    # As the API's contact and group changes are (api.audit_trail), with the same names.
    http = as_role("operator")
    who = console.users["operator"][0]
    csrf = _token(http)
    r = http.post("/console/contacts", data={"csrf_token": csrf, "name": "Audit Zhao",
                                             "number": ["13800138501"]},
                  follow_redirects=False)
    contact_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    made = audit_entry_for(console, "contact.create", f"contacts:{contact_id}")
    assert made["actor_name"] == who and made["door"] == "console"
    assert made["detail"]["numbers"] == ["+8613800138501"]
    http.post(f"/console/contacts/{contact_id}", data={
        "csrf_token": csrf, "name": "Audit Zhao Er", "number": ["+8613800138501"]})
    audit_entry_for(console, "contact.update", f"contacts:{contact_id}")
    r = http.post("/console/groups", data={"csrf_token": csrf, "name": "审计组"},
                  follow_redirects=False)
    group_id = int(r.headers["location"].rsplit("/", 1)[1])
    target = f"groups:{group_id}"
    assert audit_entry_for(console, "group.create", target)["detail"]["name"] == "审计组"
    http.post(f"/console/groups/{group_id}/members",
              data={"csrf_token": csrf, "numbers": "13800138501, 13800138502"})
    assert audit_entry_for(console, "group.members.add", target)["detail"]["numbers"] == 2
    http.get("/console/contacts/export", params={"format": "csv", "group": group_id})
    exported = audit_entry_for(console, "contact.export", target)
    assert exported["detail"] == {"format": "csv", "contacts": 2}
    http.post(f"/console/groups/{group_id}/rename", data={"csrf_token": csrf, "name": "A2"})
    assert audit_entry_for(console, "group.rename", target)["detail"]["name"] == "A2"
    http.post(f"/console/groups/{group_id}/members/remove",
              data={"csrf_token": csrf, "contact_id": contact_id})
    removed = audit_entry_for(console, "group.members.remove", target)
    assert removed["detail"]["contact_id"] == contact_id
    http.post(f"/console/groups/{group_id}/delete", data={"csrf_token": csrf})
    audit_entry_for(console, "group.delete", target)
    http.post(f"/console/contacts/{contact_id}/delete", data={"csrf_token": csrf})
    audit_entry_for(console, "contact.delete", f"contacts:{contact_id}")
    # An import: the file and what it did to the book.
    r = _upload(http, "姓名,手机号\r\n审计一,13800138511\r\n审计二,13800138512\r\n".encode(),
                "audit.csv")
    mapping_url = r.headers["location"]
    csrf = _csrf(http.get(mapping_url).text)
    r = http.post(mapping_url, data={"csrf_token": csrf, "role-0": "name",
                                     "role-1": "number"}, follow_redirects=False)
    http.post(mapping_url + "/confirm", data={"csrf_token": csrf, "existing": "update"})
    imported = audit_entry_for(console, "contact.import", "contacts", file="audit.csv")
    assert imported["detail"]["created"] == 2 and imported["actor_name"] == who
