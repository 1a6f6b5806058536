"""The egress policy's parts that need no proxy: allow entries (validated strictly, as a
template recipe's egressAllow will be), host matching, which resolved addresses are refused,
and the URLs the log keeps (no userinfo, no credentials)."""

import pytest

from runs.egress.policy import (
    AllowEntryError,
    address_problem,
    allow_entry_parse,
    allow_match,
    egress_allow_validate,
    literally_allowed,
)
from runs.egress.record import replay_key, url_scrub


def test_allow_entries_are_normalised_and_deduplicated():
    entries = [
        "PyPI.org", "files.pythonhosted.org:443", "*.npmjs.org", "127.0.0.1:8443",
        "[::1]:8443", "::1", "10.0.0.5", "pypi.org",
    ]  # fmt: skip
    assert egress_allow_validate(entries) == [
        "pypi.org", "files.pythonhosted.org:443", "*.npmjs.org", "127.0.0.1:8443",
        "[::1]:8443", "::1", "10.0.0.5",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        "", "*", "*.com", "x*.example.com", "a.*.example.com", "https://pypi.org",
        "pypi.org/simple", "user@pypi.org", "pypi.org:0", "pypi.org:65536", "pypi.org:http",
        "10.0.0.0/8", "a..b",
        "-a.example", "a-.example", "a.123", "pypi.org, npmjs.org", "tab\there", "пример.рф",
        "[::1", "[::1]x", "a" * 64 + ".example", 42, None,
    ],
)  # fmt: skip
def test_bad_allow_entries_are_refused_with_a_reason(bad):
    with pytest.raises(AllowEntryError) as exc:
        allow_entry_parse(bad)
    assert str(exc.value)


def test_a_list_is_bounded_and_must_be_a_list():
    with pytest.raises(AllowEntryError):
        egress_allow_validate("pypi.org")
    with pytest.raises(AllowEntryError):
        egress_allow_validate([f"h{i}.example" for i in range(6)], max_entries=5)


def test_matching_hosts_ports_and_suffixes():
    allow = [allow_entry_parse(e) for e in ["pypi.org", "*.npmjs.org", "mirror.example:8443"]]
    assert allow_match(allow, "pypi.org", 443) and allow_match(allow, "PYPI.ORG.", 80)
    assert not allow_match(allow, "pypi.org", 8080)  # no port given: 80 and 443 only
    assert not allow_match(allow, "evilpypi.org", 443)
    assert allow_match(allow, "registry.npmjs.org", 443)
    assert not allow_match(allow, "npmjs.org", 443)  # a suffix, not the name itself
    assert not allow_match(allow, "npmjs.org.evil.example", 443)
    assert allow_match(allow, "mirror.example", 8443) and not allow_match(
        allow, "mirror.example", 443
    )


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"),
        ("192.168.0.1", "private"), ("172.16.5.5", "private"), ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"), ("169.254.10.10", "link-local"), ("fe80::1", "link-local"),
        ("::ffff:10.0.0.1", "private"), ("0.0.0.0", "unspecified"), ("100.64.0.1", "non-global"),
        ("224.0.0.1", "multicast"),
    ],
)  # fmt: skip
def test_addresses_a_name_may_not_resolve_to(address, kind):
    assert kind in address_problem(address)


def test_global_addresses_pass_and_literal_entries_allow_their_own_address():
    assert address_problem("151.101.0.223") == "" and address_problem("2a04:4e42::223") == ""
    allow = [allow_entry_parse(e) for e in ["10.0.0.5:3141", "registry.internal"]]
    assert literally_allowed(allow, "10.0.0.5", 3141)
    assert not literally_allowed(allow, "10.0.0.5", 443)
    assert not literally_allowed(allow, "10.0.0.6", 3141)


def test_logged_urls_keep_no_credentials():
    url = "https://user:secret@files.example:8443/p/a.whl?token=abc&x=1&X-Amz-Signature=zz"
    scrubbed = url_scrub(url)
    assert (
        scrubbed == "https://files.example:8443/p/a.whl?token=REDACTED&x=1&X-Amz-Signature=REDACTED"
    )
    assert "secret" not in scrubbed and "abc" not in scrubbed
    assert replay_key("get", url) == f"GET {scrubbed}"
