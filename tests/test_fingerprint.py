from airlock.pipeline.fingerprint import assign, fingerprint, normalize
from airlock.pipeline.models import Finding, Severity


def _f(line: int, snippet: str, path: str = "a.py", rule: str = "B602") -> Finding:
    return Finding("sast", "bandit", rule, "m", Severity.HIGH, path, line, line, snippet=snippet)


def test_line_numbers_and_whitespace_do_not_change_the_fingerprint() -> None:
    a = assign([_f(3, "subprocess.call(cmd,  shell=True)")])[0]
    b = assign([_f(40, "    subprocess.call(cmd, shell=True)\t")])[0]
    assert a.fingerprint == b.fingerprint
    assert normalize(" a \n  b ") == "a b"


def test_identical_code_twice_gets_two_fingerprints_by_occurrence() -> None:
    fps = [f.fingerprint for f in assign([_f(10, "eval(x)"), _f(2, "eval(x)")])]
    assert len(set(fps)) == 2
    assert fingerprint("B602", "a.py", "eval(x)", 0) in fps and fingerprint("B602", "a.py", "eval(x)", 1) in fps


def test_rule_path_and_code_each_change_it() -> None:
    base = fingerprint("B602", "a.py", "x", 0)
    assert (
        len(
            {
                base,
                fingerprint("B603", "a.py", "x", 0),
                fingerprint("B602", "b.py", "x", 0),
                fingerprint("B602", "a.py", "y", 0),
            }
        )
        == 4
    )


def test_path_map_follows_a_rename() -> None:
    old = assign([_f(1, "eval(x)", path="old.py")], {"old.py": "new.py"})[0]
    new = assign([_f(9, "eval(x)", path="new.py")])[0]
    assert old.fingerprint == new.fingerprint
