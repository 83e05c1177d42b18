"""The package's shape: the public API without PyTorch until it codes, no import cycle, a CLI
that holds no container or coding logic."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rnncodec

PACKAGE = Path(rnncodec.__file__).resolve().parent
GOLDEN_FILE = next((Path(__file__).parent / "golden").glob("*.rgc"))


def imported_modules(argv: list[str]) -> set[str]:
    """The modules a fresh interpreter imports to run ``python -X importtime ARGV``."""
    out = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("argv", [
    ["-c", "import rnncodec; rnncodec.info; rnncodec.Codec; rnncodec.RnncodecError"],
    ["-m", "rnncodec", "--help"],
    ["-m", "rnncodec", "--version"],
    ["-m", "rnncodec", "info", str(GOLDEN_FILE)],
    ["-m", "rnncodec", "models"],
], ids=["import", "help", "version", "info", "models"])
def test_the_api_and_the_quick_commands_do_not_import_torch(argv):
    modules = imported_modules(argv)
    assert "rnncodec" in modules and not any(m == "torch" or m.startswith("torch.") for m in modules)


def test_public_names():
    assert {"encode", "decode", "decode_iterations", "info", "Codec", "RnncodecError", "FormatError"} <= set(dir(rnncodec))
    assert issubclass(rnncodec.DamageError, rnncodec.FormatError) and issubclass(rnncodec.ImageError, rnncodec.RnncodecError)
    with pytest.raises(AttributeError):
        rnncodec.no_such_name


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def internal_imports(path: Path) -> set[str]:
    """The package modules a module imports, at the top or inside functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
            if node.module:
                found.add(f"{base}.{node.module}")
            else:  # from . import x: the submodule x, or a name of the package itself
                found.update(f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("rnncodec"))
    return found


def test_no_import_cycle_inside_the_package():
    graph = {module_name(p): internal_imports(p) for p in PACKAGE.rglob("*.py")}
    state = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "active", "import cycle: " + " → ".join(path + [module])
        state[module] = "active"
        for target in graph.get(module, ()):
            if target != module and target in graph:
                visit(target, path + [module])
        state[module] = "done"

    for module in graph:
        visit(module, [])


def test_the_cli_holds_no_container_or_coding_logic():
    for path in (PACKAGE / "cli").glob("*.py"):
        imports = internal_imports(path)
        assert not imports & {"rnncodec.bitstream", "rnncodec.codec", "rnncodec.entropy"}, path.name
        libraries = {a.name.split(".")[0] for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Import)
                     for a in node.names}
        assert not libraries & {"struct", "zlib", "numpy", "constriction"}, path.name


def test_commands_are_registered_without_import_side_effects():
    from click.testing import CliRunner

    from rnncodec.cli import cli

    result = CliRunner().invoke(cli, ["info", str(GOLDEN_FILE)])
    assert result.exit_code == 0 and "model id:" in result.output
    assert CliRunner().invoke(cli, ["encode", "--help"]).exit_code == 0
