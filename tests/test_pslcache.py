"""The Public Suffix List parsed once per installation (audit/pslcache.py): a cache hit is the same object state
as a fresh parse and answers alike; a corrupt or unwritable cache is a plain miss."""
from __future__ import annotations

import os

import pytest
from publicsuffixlist import PublicSuffixList

from audit import pslcache

DOMAINS = ["www.example.co.uk", "foo.blogspot.com", "a.b.unknowntld", "com", "xn--85x722f.xn--55qx5d.cn",
           "city.kawasaki.jp", "www.city.kawasaki.jp", "sub.domain.github.io", "1.2.3.4"]


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("APPAUDIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _entries(home):
    folder = home / "cache" / "psl"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


@pytest.mark.parametrize("accept_unknown", [False, True])
def test_a_hit_is_the_fresh_parse(home, accept_unknown, monkeypatch):
    fresh = PublicSuffixList(accept_unknown=accept_unknown)
    first = pslcache.public_suffix_list(accept_unknown)        # a miss: parsed, then stored
    assert len(_entries(home)) == 1

    def no_parsing(*_args, **_kwargs):
        raise AssertionError("a cache hit parses nothing")
    with monkeypatch.context() as patched:
        patched.setattr(PublicSuffixList, "_parse", no_parsing)
        second = pslcache.public_suffix_list(accept_unknown)   # a hit: read back
    assert vars(second) == vars(fresh) == vars(first)
    assert {name: type(value) for name, value in vars(second).items()} == \
        {name: type(value) for name, value in vars(fresh).items()}
    for domain in DOMAINS:
        assert second.privatesuffix(domain) == fresh.privatesuffix(domain), domain
        assert second.publicsuffix(domain) == fresh.publicsuffix(domain), domain


def test_the_option_is_part_of_the_key(home):
    pslcache.public_suffix_list(False)
    pslcache.public_suffix_list(True)
    assert len(_entries(home)) == 2
    assert pslcache.public_suffix_list(True).privatesuffix("a.b.unknowntld") == "b.unknowntld"
    assert pslcache.public_suffix_list(False).privatesuffix("a.b.unknowntld") is None


def test_a_corrupt_entry_is_a_miss_and_is_replaced(home):
    pslcache.public_suffix_list(False)
    entry, = _entries(home)
    entry.write_text('{"_publicsuffix": {"frozenset": ')
    again = pslcache.public_suffix_list(False)
    assert vars(again) == vars(PublicSuffixList(accept_unknown=False))
    assert entry.read_text().startswith("{")
    assert vars(pslcache.public_suffix_list(False)) == vars(again)


def test_an_unwritable_cache_still_gives_the_list(home, tmp_path):
    if os.geteuid() == 0:
        home.parent.mkdir(parents=True, exist_ok=True)
        home.write_text("a file where the cache folder would go")    # root ignores permissions: block with a file
    else:
        home.mkdir(parents=True)
        home.chmod(0o500)
    try:
        psl = pslcache.public_suffix_list(False)
        assert psl.privatesuffix("www.example.co.uk") == "example.co.uk"
    finally:
        if home.is_dir():
            home.chmod(0o700)
