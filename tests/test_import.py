"""`import raqib` stays light: no torch, transformers, scikit-learn or matplotlib until a model is used."""

from __future__ import annotations

import subprocess
import sys


def test_import_raqib_does_not_import_heavy_libraries():
    code = (
        "import sys, raqib, raqib.cli, raqib.normalise; "
        "heavy = [m for m in ('torch', 'transformers', 'sklearn', 'matplotlib', 'datasets') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_import_cli_help_does_not_import_torch():
    code = (
        "import sys\nfrom raqib.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
    assert "score" in out.stdout and "evaluate" in out.stdout


def test_import_python_m_raqib_version():
    out = subprocess.run([sys.executable, "-m", "raqib", "--version"], capture_output=True, text=True, check=True)
    import raqib

    assert out.stdout.strip() == f"raqib {raqib.__version__}"
