import json
import stat

import pytest

from marmotdb.users import ROOT, UserConfigError, Users


def fake_credential(password: str) -> str:
    return "cred:" + password[::-1]


def test_root_created_once_with_generated_password(tmp_path):
    shown = []
    users = Users.load(tmp_path, [], "", fake_credential, lambda: "generated", shown.append)
    assert shown == ["generated"]
    assert users.credential(ROOT) == "cred:detareneg"
    path = tmp_path / "users.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "generated" not in path.read_text()
    again = Users.load(tmp_path, [], "other", fake_credential, lambda: "x", shown.append)
    assert again.credential(ROOT) == "cred:detareneg" and shown == ["generated"]


def test_grants_and_visibility(tmp_path):
    users = Users.load(tmp_path, [{"name": "app", "credential": "c", "grants": ["shop:rw",
                                                                               "*:r"]}],
                       "pw", fake_credential, lambda: "x", print)
    app = users.get("app")
    assert app.can("shop", "rw") and not app.can("shop", "admin")
    assert app.can("other", "r") and not app.can("other", "rw")
    root = users.get(ROOT)
    assert root.can("anything", "admin")
    assert json.loads((tmp_path / "users.json").read_text())[0]["grants"] == ["*:admin"]
    limited = Users.load(tmp_path, [{"name": "one", "credential": "c", "grants": ["a:r"]}],
                         "pw", fake_credential, lambda: "x", print).get("one")
    assert limited.visible(["a", "b"]) == ["a"]


@pytest.mark.parametrize("entry", [{"name": "x"}, {"name": "x", "credential": "c",
                                                    "grants": ["db:superuser"]},
                                   {"name": "x", "credential": "c", "grants": "db:r"}])
def test_bad_user_entries_are_refused(tmp_path, entry):
    with pytest.raises(UserConfigError):
        Users.load(tmp_path, [entry], "pw", fake_credential, lambda: "x", print)
