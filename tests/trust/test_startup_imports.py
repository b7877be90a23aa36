"""`kmsdoctor --help` (and each command's --help) loads no AWS library: the help a paged
engineer asks for first must come at once. `explain` is covered in tests/explain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELP_RUNS = [["--help"], ["diagnose", "--help"], ["collect", "--help"], ["analyze", "--help"]]

# Run each --help through the real entry point in a fresh interpreter, then list what got in.
SCRIPT = """
import json, sys
from kmsdoctor.cli import main
outputs = []
for argv in json.loads(sys.argv[1]):
    sys.argv = ["kmsdoctor", *argv]
    try:
        main()
    except SystemExit as exit:
        outputs.append(exit.code)
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"boto3", "botocore", "moto"})
sys.stderr.write(json.dumps({"codes": outputs, "loaded": loaded}))
"""


def test_help_imports_neither_boto3_nor_botocore():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(HELP_RUNS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    report = json.loads(result.stderr)
    assert report["codes"] == [0] * len(HELP_RUNS)
    assert "diagnose" in result.stdout and "--source-profile" in result.stdout  # help was shown
    assert report["loaded"] == []
