"""Progress bars (tvm_sepnet.progress): on stderr only when it is a terminal and --quiet was not given."""
import io

from tvm_sepnet import progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _shown(stream) -> str:
    b = progress.bar(3, "compile", unit="phase", stream=stream)
    b.update(2)
    b.close()
    return stream.getvalue()


def test_bar_only_on_a_terminal_and_not_quiet():
    try:
        progress.set_quiet(False)
        assert "compile:" in _shown(_Terminal()) and "/3 [" in _shown(_Terminal())
        assert _shown(io.StringIO()) == ""  # a pipe or a file: nothing
        progress.set_quiet(True)
        assert _shown(_Terminal()) == ""
    finally:
        progress.set_quiet(False)


def test_quiet_flag_on_every_command():
    from tvm_sepnet.cli import build_parser

    parser = build_parser()
    extra = {"compile": ["m", "-o", "x"], "bench": [], "profile": ["a"], "run": ["a", "--input", "x"]}
    for command in extra:
        assert parser.parse_args([command, *extra[command], "--quiet"]).quiet is True
