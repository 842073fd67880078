"""The relay's event loop choice (``--loop``) and its open-files limit (issue 13).

``auto`` must fall back to asyncio when uvloop is missing (it is an optional extra), and
``--loop uvloop`` without it must say how to get it rather than crash with an ImportError.
"""

from __future__ import annotations

import asyncio
import builtins
import sys
from typing import Any

import pytest

from server.__main__ import (
    build_parser,
    loop_factory,
    raise_open_files_limit,
    return_frame_buffers_to_the_system,
)


@pytest.fixture
def no_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import uvloop`` fail, whether or not it is installed here."""
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop" or name.startswith("uvloop."):
            raise ImportError("No module named 'uvloop'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "uvloop", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_the_default_is_asyncio_even_where_uvloop_is_installed() -> None:
    """uvloop is a choice (it held +25-30 MiB more under the slow-reader attack of
    issue 9, past its bound): installing the extra alone does not make it."""
    assert build_parser().parse_args([]).loop == "asyncio"
    assert loop_factory(build_parser().parse_args([]).loop) is None


def test_asyncio_is_asyncio_whatever_is_installed() -> None:
    assert loop_factory("asyncio") is None


def test_auto_without_uvloop_falls_back_to_asyncio(no_uvloop: None) -> None:
    assert loop_factory("auto") is None


def test_asking_for_uvloop_without_it_says_how_to_get_it(no_uvloop: None) -> None:
    with pytest.raises(SystemExit, match=r"messenger\[fast\]"):
        loop_factory("uvloop")


def test_auto_and_uvloop_take_uvloop_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    for choice in ("auto", "uvloop"):
        factory = loop_factory(choice)
        assert factory is not None
        loop = factory()
        try:
            assert isinstance(loop, uvloop.Loop)
            assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
        finally:
            loop.close()


def test_the_open_files_limit_is_raised_to_the_hard_one() -> None:
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if hard != resource.RLIM_INFINITY and hard > 256:
            resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        raise_open_files_limit()
        now_soft, now_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert now_hard == hard  # never lowered
        assert now_soft == (hard if hard != resource.RLIM_INFINITY else 1 << 20)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_frame_buffers_go_back_to_the_system_on_glibc() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert return_frame_buffers_to_the_system() is True
