"""``cinflow verify``: every stored case replayed and compared with the store."""

import json

from cinflow.store import Store

from helpers import run


def test_verify_agrees_then_names_the_case_someone_edited(tmp_path, capsys, registry):
    db = tmp_path / "cases.db"
    assert run(["run", "kent-cin-plan", "--db", str(db)], capsys)[0] == 0
    code, out, _ = run(["verify", "--db", str(db)], capsys)
    assert code == 0 and out.strip() == "1 case(s) replayed: every one agrees with the store."
    with Store(db, registry) as store:  # the stored state is edited behind the engine's back
        b = store.backend
        b.write(lambda: b.run("UPDATE cases SET state = 'closed' WHERE id = 'K-001'"))
    code, out, _ = run(["verify", "--db", str(db), "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 1 and doc["cases"] == 1
    assert doc["differences"] == ["case K-001: state: stored 'closed', replayed 'cin_plan'"]


def test_verify_explains_bad_input_in_one_line(tmp_path, capsys):
    code, _, err = run(["verify", "--db", str(tmp_path / "none.db")], capsys)
    assert code == 2 and err.count("\n") == 1 and "no such database" in err
    db = tmp_path / "cases.db"
    run(["run", "kent-cin-plan", "--db", str(db)], capsys)
    code, _, err = run(["verify", "--db", str(db), "--case", "K-404"], capsys)
    assert code == 2 and err.count("\n") == 1 and "no case 'K-404'" in err
