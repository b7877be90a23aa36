"""tomllib gives no positions: the locator finds each value's line itself, through strings,
comments, multi-line arrays and Windows line endings, so an error names the right line."""

from __future__ import annotations

from kmsdoctor.check.locate import line_of, value_lines


def test_escaped_quotes_and_multiline_strings_do_not_shift_lines():
    text = (
        'a = "say \\"[[expect]]\\""\n'  # 1
        "b = '''\n"  # 2
        "[[expect]]\n"  # 3
        "'''\n"  # 4
        'c = """two "" quotes before the end"""""\n'  # 5
        "[[expect]]\n"  # 6
        "x = 1\n"  # 7
        "[[ expect ]]   # second\n"  # 8
        "y = [\n"  # 9
        "  1,  # one\n"  # 10
        "  [2, 3],\n"  # 11
        "]\n"  # 12
    )
    lines = value_lines(text)
    assert lines[("c",)] == 5
    assert lines[("expect", 0)] == 6
    assert lines[("expect", 0, "x")] == 7
    assert lines[("expect", 1)] == 8
    assert lines[("expect", 1, "y", 0)] == 10
    assert lines[("expect", 1, "y", 1, 1)] == 11
    assert ("expect", 2) not in lines


def test_windows_line_endings():
    text = '[accounts]\r\n"1" = "a"\r\n\r\n[[expect]]\r\nkey = "k"\r\n'
    lines = value_lines(text)
    assert lines[("accounts", "1")] == 2
    assert lines[("expect", 0, "key")] == 5


def test_quoted_and_dotted_keys():
    text = 'accounts."222222222222" = "b"\n"quoted \\u0041" = 1\n'
    lines = value_lines(text)
    assert lines[("accounts", "222222222222")] == 1
    assert lines[("quoted A",)] == 2


def test_a_missing_path_falls_back_to_its_table():
    lines = value_lines("[[expect]]\nkey = 'k'\n")
    assert line_of(lines, ("expect", 0, "access")) == 1
    assert line_of(lines, ("nowhere",)) == 1
