"""runs.intake.archives: receipt and header-only validation of hostile .tar.gz archives.

No database: archives are built in memory with hand-made TarInfo objects; each refusal is
checked down to the status and error code the API answers with."""

import gzip
import hashlib
import io
import tarfile
import time

import pytest

from runs.http.errors import status_and_code
from runs.intake.archives import (
    ArchiveError,
    ArchiveInfo,
    ArchiveLimits,
    ReceivedFile,
    check_declared,
    inspect_archive,
    receive_stream,
)

LIMITS = ArchiveLimits()


# --- builders -------------------------------------------------------------------------------


def reg(name, data=b""):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def dir_(name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def sym(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, None


def hard(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, target
    return info, None


def special(name, kind):
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = kind, 1, 3
    return info, None


def tar_bytes(*members, fmt=tarfile.PAX_FORMAT, pax_headers=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, pax_headers=pax_headers) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def targz(*members, **kwargs):
    return gzip.compress(tar_bytes(*members, **kwargs))


def header(info, fmt=tarfile.USTAR_FORMAT):
    return info.tobuf(format=fmt)


def patch(block, offset, value):
    """Overwrite bytes of a raw header block and fix its checksum, as an attacker would."""
    block = bytearray(block)
    block[offset : offset + len(value)] = value
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def raw_targz(*blocks):
    """gzip of raw 512-byte blocks followed by a proper end-of-archive marker."""
    return gzip.compress(b"".join(blocks) + b"\0" * 1024)


def inspect(data, limits=LIMITS, **kwargs):
    return inspect_archive(io.BytesIO(data), limits=limits, **kwargs)


def refused(data, rule, member, limits=LIMITS):
    with pytest.raises(ArchiveError) as caught:
        inspect(data, limits)
    err = caught.value
    assert status_and_code(err) == (422, "archive_unsafe"), err.message
    assert err.details == {"member": member, "rule": rule}
    return err


def unsupported(data, limits=LIMITS):
    with pytest.raises(ArchiveError) as caught:
        inspect(data, limits)
    assert status_and_code(caught.value) == (415, "unsupported_archive")
    return caught.value


# --- receive_stream / check_declared --------------------------------------------------------


def test_receive_stream_hashes_and_counts_multi_chunk_input():
    chunks = [b"abc", b"", b"defgh", b"i" * 1000]
    dest, progress = io.BytesIO(), []
    received = receive_stream(iter(chunks), dest, max_bytes=2000, on_progress=progress.append)
    whole = b"".join(chunks)
    assert received == ReceivedFile(size_bytes=len(whole), sha256=hashlib.sha256(whole).hexdigest())
    assert dest.getvalue() == whole
    assert progress == [3, 3, 8, 1008]


def test_receive_stream_exactly_at_limit_is_accepted():
    received = receive_stream([b"12345"], io.BytesIO(), max_bytes=5)
    assert received.size_bytes == 5


def test_receive_stream_too_large_stops_consuming_early():
    pulled = []

    def chunks():
        for i in range(100):
            pulled.append(i)
            yield b"x" * 10

    iterator, dest = chunks(), io.BytesIO()
    with pytest.raises(ArchiveError) as caught:
        receive_stream(iterator, dest, max_bytes=25)
    err = caught.value
    assert status_and_code(err) == (413, "archive_too_large")
    assert err.details == {"limitBytes": 25}
    assert pulled == [0, 1, 2]
    assert next(iterator) == b"x" * 10  # not exhausted
    assert dest.getvalue() == b"x" * 20  # the chunk over the limit was not written


def test_check_declared_accepts_case_insensitive_digest():
    received = ReceivedFile(size_bytes=3, sha256=hashlib.sha256(b"abc").hexdigest())
    check_declared(received, size_bytes=3, sha256=received.sha256.upper())


def test_check_declared_size_mismatch_is_checked_first():
    received = ReceivedFile(size_bytes=3, sha256="a" * 64)
    with pytest.raises(ArchiveError) as caught:
        check_declared(received, size_bytes=4, sha256="b" * 64)
    err = caught.value
    assert status_and_code(err) == (422, "archive_size_mismatch")
    assert err.details == {"declared": 4, "received": 3}


def test_check_declared_digest_mismatch():
    received = ReceivedFile(size_bytes=3, sha256="a" * 64)
    with pytest.raises(ArchiveError) as caught:
        check_declared(received, size_bytes=3, sha256="b" * 64)
    err = caught.value
    assert status_and_code(err) == (422, "archive_digest_mismatch")
    assert err.details == {"declared": "b" * 64, "received": "a" * 64}


# --- accepted archives ----------------------------------------------------------------------


def test_normal_archive_counts():
    data = targz(
        dir_("."),
        dir_("src"),
        reg("src/main.py", b"print('hi')\n"),
        reg("README", b"hello"),
        sym("src/readme", "../README"),
        sym("latest", "src"),
        hard("src/main_copy.py", "src/main.py"),
        dir_("src/pkg/"),
    )
    info = inspect(data)
    assert info == ArchiveInfo(
        file_count=3, dir_count=2, symlink_count=2, member_count=8, expanded_bytes=17
    )


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_formats_and_long_names_are_accepted(fmt):
    deep = "/".join(["d" * 40] * 5) + "/file.txt"  # needs ustar prefix, GNU L or pax path
    info = inspect(targz(reg(deep, b"x"), sym("link", "d" * 40), fmt=fmt))
    assert (info.file_count, info.symlink_count, info.member_count) == (1, 1, 2)


def test_dot_slash_prefixed_names_and_root_entry_are_fine():
    data = targz(dir_("./"), dir_("./a"), reg("././a//b.txt", b"1"), hard("./c", "./a/b.txt"))
    info = inspect(data)
    assert (info.file_count, info.dir_count, info.member_count) == (2, 1, 4)


def test_empty_archive_is_fine():
    assert inspect(targz()) == ArchiveInfo(0, 0, 0, 0, 0)


def test_git_archive_style_global_pax_header_is_fine():
    data = targz(reg("a", b"1"), pax_headers={"comment": "0123456789abcdef0123456789abcdef"})
    assert inspect(data).file_count == 1


def test_dangling_in_tree_symlink_is_fine():
    assert inspect(targz(dir_("a"), sym("a/l", "../not/there"))).symlink_count == 1


def test_in_tree_symlink_chain_is_fine():
    data = targz(dir_("a"), dir_("a/b"), sym("x", "a/b"), sym("y", "x/.."), sym("z", "y/b/../.."))
    assert inspect(data).symlink_count == 3


def test_duplicate_plain_files_and_dirs_are_allowed():
    data = targz(
        reg("a", b"1"), reg("a", b"22"), dir_("d"), dir_("d"), sym("l", "a"), sym("l", "d")
    )
    info = inspect(data)
    assert (info.file_count, info.dir_count, info.symlink_count) == (2, 2, 2)
    assert info.expanded_bytes == 3


def test_gnu_sparse_file_counts_as_regular():
    # An old-GNU sparse header ('S'): 10 stored bytes at offset 0 of a 4096-byte file.
    info = tarfile.TarInfo("sparse.bin")
    info.size = 10
    block = patch(header(info, tarfile.GNU_FORMAT), 156, tarfile.GNUTYPE_SPARSE)
    block = patch(block, 386, b"%011o\0%011o\0" % (0, 10))
    block = patch(block, 483, b"%011o\0" % 4096)
    data = raw_targz(block, b"x" * 10 + b"\0" * 502)
    result = inspect(data)
    assert (result.file_count, result.expanded_bytes) == (1, 4096)


def test_streaming_without_seek_and_progress_reports():
    class NoSeek:
        def __init__(self, data):
            self._buf = io.BytesIO(data)

        def read(self, size=-1):
            return self._buf.read(size)

    data = targz(*[reg(f"f{i}", b"") for i in range(2500)])
    calls = []
    info = inspect_archive(NoSeek(data), limits=LIMITS, on_progress=lambda *a: calls.append(a))
    assert info.member_count == 2500
    assert [c[0] for c in calls] == [1000, 2000]
    assert all(0 < c[1] <= len(data) for c in calls)


# --- not a tar.gz -> 415 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        tar_bytes(reg("a", b"1")),  # plain tar
        b"PK\x03\x04" + b"\0" * 100,  # zip
        bytes(range(256)) * 4,  # random-ish bytes
        b"",
    ],
    ids=["plain-tar", "zip", "random", "empty"],
)
def test_not_gzip(data):
    unsupported(data)


def test_gzip_of_text_is_not_a_tar():
    unsupported(gzip.compress(b"hello world, this is not a tar archive\n" * 40))


def test_truncated_gzip():
    data = targz(reg("a", b"x" * 5000), reg("b", b"y" * 5000))
    unsupported(data[: len(data) // 2])


def test_corrupted_gzip_crc():
    # Padding well past tarfile's read-ahead: only reading to the end reaches the CRC.
    data = bytearray(gzip.compress(tar_bytes(reg("a", b"hello")) + b"\0" * 300_000))
    inspect(bytes(data))
    data[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    unsupported(bytes(data))


def test_excessive_padding_after_end_of_archive():
    unsupported(gzip.compress(tar_bytes(reg("a", b"1")) + b"\0" * (2 << 20)))


def test_tar_truncated_inside_member_data():
    unsupported(gzip.compress(tar_bytes(reg("a", b"x" * 2000))[:1024]))


def test_tar_without_end_of_archive_marker():
    # tarfile alone silently accepts this; GNU tar reports an unexpected EOF.
    unsupported(gzip.compress(tar_bytes(reg("a", b"x" * 512))[:1024]))


def test_garbage_after_end_of_archive_marker():
    tail = header(reg("../evil")[0])  # what GNU tar --ignore-zeros would go on to extract
    unsupported(gzip.compress(tar_bytes(reg("a", b"1")) + tail))


def test_concatenated_gzip_members_are_inspected_as_one_stream():
    # tarfile's own 'r|gz' stops after the first gzip member; gzip -d (GNU tar) does not.
    first = gzip.compress(tar_bytes(reg("a", b"1"))[:1024])  # no end-of-archive marker
    second = gzip.compress(tar_bytes(reg("../evil", b"2")))
    refused(first + second, "parent_traversal", "../evil")


def test_trailing_garbage_after_gzip_stream():
    unsupported(targz(reg("a", b"1")) + b"garbage")


# --- parser differentials (GNU tar vs tarfile) -> 415 ---------------------------------------


@pytest.mark.parametrize(
    "field", [b"+0000000012\0", b"0000000_12\0", b"\x000000000012", b"           \0"]
)
def test_lenient_size_spellings_are_refused(field):
    block = patch(header(reg("a")[0]), 124, field)
    unsupported(raw_targz(block, b"\0" * 512))


def test_bad_checksum_mid_archive():
    bad = bytearray(header(reg("b")[0]))
    bad[0] = ord("c")  # checksum no longer matches; tarfile would stop silently here
    unsupported(raw_targz(header(reg("a")[0]), bytes(bad)))


def test_ustar_prefix_in_gnu_header_is_refused():
    block = patch(header(reg("l")[0], tarfile.GNU_FORMAT), 345, b"sub\0")
    unsupported(raw_targz(block))


def test_gnu_long_name_mixed_with_pax_is_refused():
    # tarfile takes the GNU long name (a/b/l: an in-tree link), GNU tar the pax path (x: escapes).
    gnu_long = tarfile.TarInfo("././@LongLink")
    gnu_long.type, gnu_long.size = tarfile.GNUTYPE_LONGNAME, 6
    info, _ = sym("x", "../../etc")
    info.pax_headers = {"path": "x"}
    pax = tar_bytes((info, None))[:1536]  # pax header, its data, the symlink's ustar header
    assert pax[1024 + 156 : 1024 + 157] == tarfile.SYMTYPE
    gnu = header(gnu_long, tarfile.GNU_FORMAT) + b"a/b/l\0".ljust(512, b"\0")
    unsupported(raw_targz(gnu, pax))


def test_repeated_pax_header_is_refused():
    pax = tar_bytes(reg("a" * 120))[:1024]  # x header with path record
    unsupported(raw_targz(pax, pax, header(reg("b")[0])))


def test_global_pax_path_is_refused():
    unsupported(targz(reg("a", b"1"), pax_headers={"path": "../../x"}))


def test_malformed_pax_record_is_refused():
    info = tarfile.TarInfo("././@PaxHeader")
    # tarfile trusts the length of the first record and reads on; GNU tar stops at the
    # missing newline and ignores the size record, so the two would skip different data.
    records = b"11 path=x\nX" + b"14 size=10000\n"
    info.type, info.size = tarfile.XHDTYPE, len(records)
    hidden = header(sym("evil", "/etc")[0]).ljust(10240, b"\0")  # what GNU tar sees next
    data = raw_targz(header(info), records.ljust(512, b"\0"), header(reg("a")[0]), hidden)
    assert [m.name for m in tarfile.open(fileobj=io.BytesIO(data), mode="r|gz")] == ["x\n"]
    unsupported(data)


def test_pax_digit_run_redos_is_refused_quickly():
    info, _ = reg("a")
    info.pax_headers = {"comment": "1" * 60000}  # quadratic in tarfile 3.11.7 (CVE-2024-6232)
    started = time.monotonic()
    unsupported(targz((info, b"")))
    assert time.monotonic() - started < 1


def test_oversized_extended_header_is_refused():
    info, _ = reg("a")
    info.pax_headers = {"comment": "ab" * 40000}
    unsupported(targz((info, b"")))


def test_directory_or_link_carrying_data_is_refused():
    block = patch(header(sym("l", "a")[0]), 124, b"%011o\0" % 512)
    unsupported(raw_targz(block, b"x" * 512))


# --- unsafe members -> 422 ------------------------------------------------------------------


def test_absolute_path():
    refused(targz(reg("/etc/passwd", b"x")), "absolute_path", "/etc/passwd")


@pytest.mark.parametrize("name", ["../x", "a/../../x", "a/b/../../../x", "a/.."])
def test_parent_traversal(name):
    refused(targz(reg(name, b"x")), "parent_traversal", name)


def test_symlink_absolute_target():
    refused(targz(sym("l", "/etc")), "link_escape", "l")


def test_symlink_up():
    refused(targz(sym("up", "..")), "link_escape", "up")


def test_symlink_lexical_escape_from_subdir():
    refused(targz(dir_("a"), sym("a/l", "../../x")), "link_escape", "a/l")


def test_symlink_chain_escape_cve_2025_4517_style():
    # Lexically x -> a/b/c/.. stays inside; through the link a/b/c (-> the root) it escapes.
    data = targz(dir_("a"), dir_("a/b"), sym("a/b/c", "../.."), sym("x", "a/b/c/.."))
    refused(data, "link_escape", "x")


def test_symlink_chain_escape_regardless_of_member_order():
    # The link through which x escapes only comes later in the archive.
    data = targz(sym("x", "a/b/c/.."), dir_("a"), dir_("a/b"), sym("a/b/c", "../.."))
    refused(data, "link_escape", "x")


def test_every_duplicate_symlink_is_checked_not_only_the_last():
    refused(targz(sym("l", "../x"), sym("l", "ok")), "link_escape", "l")


def test_deep_symlink_paths_count_against_the_member_limit():
    # The second pass keeps a trie of symlink parents; its size is bounded like the members.
    data = targz(sym("a/b/c/d/e/f/l", "x"))
    assert inspect(data, ArchiveLimits(max_members=7)).symlink_count == 1
    refused(data, "too_many_members", "a/b/c/d/e/f/l", ArchiveLimits(max_members=6))


def test_symlink_loop():
    refused(targz(sym("a", "b"), sym("b", "a")), "symlink_loop", "a")


def test_symlink_self_loop():
    refused(targz(sym("a", "a/x")), "symlink_loop", "a")


def test_symlink_depth_limit():
    chain = [sym(f"l{i}", f"l{i + 1}") for i in range(5)]
    assert inspect(targz(*chain), ArchiveLimits(max_symlink_depth=5)).symlink_count == 5
    refused(targz(*chain), "symlink_loop", "l0", ArchiveLimits(max_symlink_depth=4))


def test_member_written_through_in_tree_symlink():
    data = targz(dir_("sub"), sym("d", "sub"), reg("d/file", b"x"))
    refused(data, "through_symlink", "d/file")


def test_member_through_symlink_that_comes_later():
    data = targz(dir_("sub"), reg("d/file", b"x"), sym("d", "sub"))
    refused(data, "through_symlink", "d/file")


def test_hardlink_escape():
    refused(targz(hard("h", "../etc/passwd")), "link_escape", "h")


def test_hardlink_absolute():
    refused(targz(hard("h", "/etc/passwd")), "link_escape", "h")


def test_hardlink_to_later_member():
    refused(targz(hard("h", "f"), reg("f", b"x")), "hardlink_target", "h")


def test_hardlink_to_symlink():
    refused(targz(reg("f", b"x"), sym("l", "f"), hard("h", "l")), "hardlink_target", "h")


def test_hardlink_to_directory():
    refused(targz(dir_("d"), hard("h", "d")), "hardlink_target", "h")


@pytest.mark.parametrize(
    "kind",
    [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE, b"V", b"D"],
    ids=["chr", "blk", "fifo", "volume-label", "gnu-dumpdir"],
)
def test_special_files(kind):
    refused(targz(reg("ok", b"1"), special("dev", kind)), "special_file", "dev")


def test_too_many_members():
    data = targz(*[reg(f"f{i}", b"") for i in range(5)])
    assert inspect(data, ArchiveLimits(max_members=5)).member_count == 5
    refused(data, "too_many_members", "f3", ArchiveLimits(max_members=3))


def test_expanded_size_over_limit():
    data = targz(reg("a", b"12345"), reg("b", b"123456"))
    assert inspect(data, ArchiveLimits(max_expanded_bytes=11)).expanded_bytes == 11
    refused(data, "expanded_too_large", "b", ArchiveLimits(max_expanded_bytes=10))


def test_huge_declared_size_is_refused_from_the_header_alone():
    info = tarfile.TarInfo("huge")
    info.size = 10**12  # no data follows: refused before anything is read or buffered
    refused(raw_targz(header(info, tarfile.GNU_FORMAT)), "expanded_too_large", "huge")


def test_path_too_long():
    name = "abcd/" * 4 + "efgh"  # 24 bytes
    assert inspect(targz(reg(name)), ArchiveLimits(max_path_length=24)).file_count == 1
    refused(targz(reg(name)), "path_too_long", name, ArchiveLimits(max_path_length=23))


def test_path_length_counts_utf8_bytes():
    name = "é" * 12  # 24 bytes
    refused(targz(reg(name)), "path_too_long", name, ArchiveLimits(max_path_length=23))


def test_symlink_target_too_long():
    refused(targz(sym("l", "a/" * 20)), "path_too_long", "l", ArchiveLimits(max_path_length=30))


def test_component_too_long():
    limits = ArchiveLimits(max_name_length=5)
    assert inspect(targz(reg("abcde/fghij")), limits).file_count == 1
    refused(targz(reg("abcde/fghijk")), "name_too_long", "abcde/fghijk", limits)


def test_nul_in_name():
    info, _ = reg("placeholder")
    info.pax_headers = {"path": "a\x00b"}
    refused(targz((info, b"")), "invalid_name", "a\x00b")


def test_control_char_in_name():
    refused(targz(reg("a\x01b", b"x")), "invalid_name", "a\x01b")


def test_nul_in_symlink_target():
    # GNU tar would cut the target at the NUL, leaving "..".
    info, _ = sym("l", "placeholder")
    info.pax_headers = {"linkpath": "..\x00/x"}
    refused(targz((info, None)), "invalid_name", "l")


def test_non_directory_named_dot():
    refused(targz(sym(".", "x")), "invalid_name", ".")


def test_duplicate_conflict_dir_then_symlink():
    refused(targz(dir_("a"), sym("a", "b")), "duplicate_conflict", "a")


def test_duplicate_conflict_symlink_then_file():
    refused(targz(sym("a", "b"), reg("a", b"x")), "duplicate_conflict", "a")


def test_duplicate_conflict_symlink_then_hardlink():
    refused(targz(reg("f", b"x"), sym("a", "f"), hard("a", "f")), "duplicate_conflict", "a")
