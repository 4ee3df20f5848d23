"""Where the accounts meet the content and money rules, end to end: departments, users and
bound keys made with the command line (the console script, in subprocesses) or the JSON API,
then sends through the JSON API of the running appliance over simulated modems.

- a department's signature set through the API is carried by its keys' sends and counted in
  their parts; another department's key gets its 【short name】 or the box's;
- quotas and balances set by department and user NAME from the command line apply to a
  department-bound key's sends: over quota, 422 naming the department.
"""

from __future__ import annotations

from pathlib import Path

from appliance.config import PolicyConfig
from appliance.pdu import count_parts
from appliance.store import ledger
from appliance.store.apikeys import create_api_key
from appliance.store.service import run_in_database
from tests.accounts.test_cli import cardgate
from tests.api.conftest import Gateway, running
from tests.api.test_openapi import check
from tests.test_cli import one_line_error

TO = ["+8613800000001", "+8613800000002", "+8613800000003"]
BOX = "平安城市"  # the box's signature


def cli_config(tmp: Path) -> Path:
    """A config file naming the database the appliance under test will use."""
    path = tmp / "cardgate.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp / "cg.db"}"\n'
                    '[modems]\nautodetect = false\n', encoding="utf-8")
    return path


def ok(*args: str | Path) -> str:
    done = cardgate(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def new_key(config: Path, name: str, *binding: str) -> str:
    return ok("apikey", "create", "--name", name, "--scopes", "send,read", *binding,
              "--config", config).splitlines()[-1]


async def stored(gw: Gateway, message_id: int) -> dict:
    return check(await gw.get(f"/api/v1/messages/{message_id}", key="full"),
                 "/api/v1/messages/{message_id}")


async def test_department_signatures_through_the_api_and_short_names(tmp_path: Path):
    config = cli_config(tmp_path)
    ok("department", "add", "市政务中心", "--config", config)  # id 1: its signature by API
    ok("department", "add", "档案馆", "--config", config)  # id 2: nothing of its own
    ok("department", "add", "税务局", "--short", "市税务局", "--config", config)  # id 3
    ok("department", "add", "园林局", "--short", "园", "--config", config)  # id 4: too short
    keys = {name: new_key(config, name, "--department", dept) for name, dept in (
        ("hall", "市政务中心"), ("archive", "档案馆"), ("tax", "税务局"), ("park", "园林局"))}
    async with running(tmp_path, keys={"full": ["admin"]},
                       policy=PolicyConfig(signature=BOX)) as gw:
        gw.keys.update(keys)
        await gw.wait_ready()
        put = await gw.client.put("/api/v1/policy/signatures", headers=gw.auth("full"),
                                  json={"department_id": 1, "signature": "【市政务中心】"})
        assert put.status_code == 200, put.text
        body = "您的业务已办结" * 9 + "请取件"  # 66 characters: one UCS2 part alone
        assert count_parts(body).parts == 1
        want = {"hall": "【市政务中心】", "archive": f"【{BOX}】", "tax": "【市税务局】",
                "park": f"【{BOX}】"}
        for n, (key, signature) in enumerate(want.items()):
            # One number each: two departments signing alike send the same text, and the same
            # text to the same number on one working day is a duplicate (dedupe).
            answer = await gw.post("/api/v1/messages", key=key,
                                   json={"to": [f"+86139000000{n:02d}"], "text": body})
            assert answer.status_code == 202, answer.text
            assert answer.json()["parts"] == count_parts(signature + body).parts == 2, key
            (item,) = answer.json()["messages"]
            message = await stored(gw, item["id"])
            assert message["text"] == signature + body, key
            await gw.wait_message(item["id"], {"sent", "delivered"})
        sent = [a for m in gw.fleet.modems for a in m.accepted]
        assert len(sent) == 2 * len(want)  # every message went out in its two parts

        # A short name set or changed through the API is used at once.
        patched = await gw.client.patch("/api/v1/departments/4", headers=gw.auth("full"),
                                        json={"short_name": "园林"})
        assert patched.status_code == 200, patched.text
        created = await gw.client.post("/api/v1/departments", headers=gw.auth("full"),
                                       json={"name": "水务局", "short_name": "市水务局"})
        assert created.status_code == 201, created.text
        water = created.json()["id"]
        gw.keys["water"] = await gw.appliance.store.write(lambda: create_api_key(
            "water", ["send", "read"], department_id=water))
        for key, signature in (("park", "【园林】"), ("water", "【市水务局】")):
            answer = await gw.post("/api/v1/messages", key=key, json={"to": TO[1:2],
                                                                     "text": "停水通知"})
            assert answer.status_code == 202, answer.text
            (item,) = answer.json()["messages"]
            assert (await stored(gw, item["id"]))["text"] == signature + "停水通知"


async def test_quotas_by_name_from_the_command_line_then_over_quota(tmp_path: Path):
    config = cli_config(tmp_path)
    ok("department", "add", "市政务中心", "--config", config)
    ok("department", "add", "档案馆", "--config", config)
    done = cardgate("user", "add", "li.ming", "--role", "operator", "--department", "档案馆",
                    "--config", config, stdin="long-pass-word-1\n")
    assert done.returncode == 0, done.stderr
    hall = new_key(config, "hall", "--department", "市政务中心")
    clerk = new_key(config, "clerk", "--user", "li.ming")

    shown = ok("quota", "set", "--department", "市政务中心", "--monthly", "4",
               "--config", config)
    assert shown.startswith("department:1\t4 parts a month\tnot prepaid")
    assert ok("quota", "set", "--user", "li.ming", "--monthly", "9", "--config",
              config).startswith("user:1\t9 parts a month")
    assert ok("balance", "topup", "--user", "li.ming", "--parts", "3", "--note", "试用",
              "--config", config).strip() == "user:1: topup +3 parts; balance 3"
    assert ok("balance", "adjust", "--user", "li.ming", "--parts", "-1", "--note", "更正",
              "--config", config).strip() == "user:1: adjust -1 parts; balance 2"
    standing = ok("balance", "show", "--user", "li.ming", "--config", config)
    assert standing.splitlines()[0].startswith("user:1\t9 parts a month\tprepaid")
    assert "balance 2" in standing and "left 2" in standing
    url = f"sqlite:///{tmp_path / 'cg.db'}"
    before = run_in_database(url, lambda: ledger.entries())
    for args, needle in [
        (("quota", "set", "--department", "无此部门", "--monthly", "1"),
         '--department: no department named "无此部门"'),
        (("quota", "set", "--user", "nobody", "--no-limit"), '--user: no user named "nobody"'),
        (("balance", "topup", "--user", "nobody", "--parts", "5"), "--user: no user named"),
        (("balance", "adjust", "--department", "无此部门", "--parts", "5", "--note", "x"),
         "--department: no department named"),
        (("balance", "show", "--department", "无此部门"), "--department: no department named"),
        (("quota", "set", "--user", "li.ming", "--department", "档案馆", "--monthly", "1"),
         "not allowed with"),
    ]:
        one_line_error(cardgate(*args, "--config", config), needle)
    assert run_in_database(url, lambda: ledger.entries()) == before  # nothing changed
    assert ok("approval", "rule", "--department", "档案馆", "--mode", "all", "--config",
              config).strip() == "department 2: all"
    one_line_error(cardgate("approval", "rule", "--department", "无此部门", "--mode", "all",
                            "--config", config), "--department: no department named")

    async with running(tmp_path, keys={"full": ["admin"]}) as gw:
        gw.keys.update({"hall": hall, "clerk": clerk})
        await gw.wait_ready()
        refused = await gw.post("/api/v1/messages", key="hall",
                                json={"to": TO, "text": "长" * 80})  # 2 parts each: 6
        check(refused, "/api/v1/messages")
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert (error["code"], error["field"], error["needed"], error["left"]) == (
            "over_quota", "to", 6, 4)
        assert (error["account"], error["holder"]) == ("department:1", "市政务中心")
        assert "department:1 “市政务中心”: 4 parts a month" in error["message"]
        fits = await gw.post("/api/v1/messages", key="hall",
                             json={"to": TO[:2], "text": "长" * 80})
        assert fits.status_code == 202, fits.text
        assert fits.json()["policy"]["quota"] == {"accounts": ["department:1"], "parts": 4,
                                                  "left": 0}
        # li.ming's key: his prepaid balance (2) is tighter than his month (9).
        over = await gw.post("/api/v1/messages", key="clerk", json={"to": TO, "text": "hi"})
        assert over.status_code == 422, over.text
        assert over.json()["error"]["holder"] == "li.ming"
        assert "prepaid balance (user:1 “li.ming”" in over.json()["error"]["message"]
