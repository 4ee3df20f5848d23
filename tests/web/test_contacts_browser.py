"""The address book in a real browser: a wrong number named next to its input, an import
whose bad rows are reported and left out, and a viewer who can look but not change."""

from __future__ import annotations

import pytest

from appliance.store import contacts as book

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _read(console, fn):
    async def run():
        return await console.appliance.store.read(fn)
    return console.run(run())


def test_a_bad_number_is_named_next_to_its_field(console, page, login, shot):
    login(page, "operator")
    page.goto("/console/contacts")
    page.click("#add-contact")
    page.fill("#c-name", "Chen Jing")
    page.fill("#number-0", "139 0013 90")  # too short for a Chinese mobile
    page.click("button[data-add-row=numbers]")  # a third number input appears (JS)
    assert page.locator("#numbers input[name=number]").count() == 3
    page.fill("#number-1", "13900139001")
    page.click("#save")
    error = page.locator("#number-0-error")
    assert "Not a valid phone number" in error.inner_text()
    assert page.locator("#number-0").get_attribute("aria-invalid") == "true"
    assert page.locator("#number-0").input_value() == "139 0013 90"  # kept as typed
    assert page.locator("#number-1-error").count() == 0
    shot(page, "contact-error-en")
    page.fill("#number-0", "139 0013 9000")
    page.click("#save")
    page.wait_for_selector("#saved")
    assert page.locator("#number-0").input_value() == "+8613900139000"
    assert _read(console, lambda: book.contact_for_number("+8613900139001"))["name"] == \
        "Chen Jing"
    page.goto("/console/contacts?q=Chen")
    assert "Chen Jing" in page.locator("#contacts").inner_text()
    shot(page, "contacts-list-en")


CSV = ("姓名,手机号,分组,是否同意,城市\r\n"
       "赵一,13700137001,浏览器导入,是,上海\r\n"
       "赵二,1370013700,浏览器导入,,\r\n"  # ten digits
       "赵三,13700137003,浏览器导入,否,\r\n"
       "赵四,13700137001,浏览器导入,,\r\n"  # row 2's number again
       "赵五,13700137005,浏览器导入,也许,\r\n")  # consent not understood


def test_import_reports_bad_rows_and_imports_only_the_good(console, new_page, login, shot):
    page = new_page(locale="zh-CN")
    login(page, "operator")
    page.goto("/console/contacts/import")
    page.set_input_files("#file", files=[{"name": "客户名单.csv", "mimeType": "text/csv",
                                          "buffer": CSV.encode("gbk")}])
    page.click("#upload")
    page.wait_for_selector("#mapping")
    assert page.locator("#role-1").input_value() == "number"
    assert page.locator("#role-3").input_value() == "consent"
    assert page.locator("#role-4").input_value() == "field"
    shot(page, "import-columns-zh")
    page.click("#to-preview")
    page.wait_for_selector("#summary")
    assert page.locator("#count-new").inner_text() == "2"
    assert page.locator("#count-invalid").inner_text() == "2"
    assert page.locator("#count-duplicate").inner_text() == "1"
    invalid = page.locator("#invalid").inner_text()
    assert "手机号码无效：1370013700" in invalid and "也许" in invalid
    assert "与第 2 行号码相同" in page.locator("#duplicates").inner_text()
    shot(page, "import-check-zh")
    assert _read(console, lambda: book.count_contacts("赵")) == 0  # nothing yet
    page.click("#confirm")
    page.wait_for_selector("#result")
    assert "新增联系人 2 个" in page.locator("#done-created").inner_text()
    shot(page, "import-done-zh")
    assert _read(console, lambda: sorted(c["name"] for c in book.page_contacts("赵")[
        "contacts"])) == ["赵一", "赵三"]
    group = _read(console, lambda: book.group_by_name("浏览器导入"))
    assert group["members"] == 2
    page.goto(f"/console/groups/{group['id']}")
    assert "赵一" in page.locator("#members").inner_text()
    shot(page, "group-zh")
    page.goto("/console/contacts?q=赵")
    assert page.locator("#total").inner_text() == "找到 2 个联系人"
    shot(page, "contacts-list-zh")


def test_a_viewer_cannot_edit(console, page, login, shot):
    async def add():
        return await console.appliance.store.write(
            lambda: book.create_contact("Only Looked At", ["+8613600136001"]))
    made = console.run(add())
    login(page, "viewer")
    page.goto("/console/contacts")
    assert page.locator("#add-contact").count() == 0
    assert "Import" not in page.locator(".tabs").inner_text()
    page.goto(f"/console/contacts/{made['id']}")
    assert page.locator("#contact-view").is_visible()
    assert page.locator("#contact-form, #delete").count() == 0
    shot(page, "contact-viewer-en")
    response = page.goto("/console/contacts/new")
    assert response.status == 403
    # A forged post (with the viewer's own CSRF token) is refused too.
    status = page.evaluate("""async (id) => {
        const token = document.querySelector('meta[name=csrf-token]').content;
        const body = new URLSearchParams({csrf_token: token, name: 'x', number: '13600136002'});
        const r = await fetch('/console/contacts/' + id, {method: 'POST', body});
        return r.status; }""", made["id"])
    assert status == 403
    assert _read(console, lambda: book.get_contact(made["id"]))["name"] == "Only Looked At"
