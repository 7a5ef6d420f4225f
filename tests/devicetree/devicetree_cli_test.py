"""`pilctl devicetree` against independently established expectations."""

import json
import os
import tempfile

import pytest

from pildtest import REAL_DTBS, pilctl, pilctl_json, realdata, runfile

EXPECTED_DIR = runfile("tests/devicetree/testdata/expected")


def subset_mismatches(expected, got, path="$"):
    """Every place where `got` differs from `expected` (extra keys allowed)."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return ["%s: expected an object, got %r" % (path, got)]
        out = []
        for key, value in expected.items():
            if key not in got:
                out.append("%s.%s: missing" % (path, key))
            else:
                out += subset_mismatches(value, got[key], "%s.%s" % (path, key))
        return out
    if isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            return ["%s: expected %d items, got %r" % (path, len(expected), got)]
        out = []
        for i, (e, g) in enumerate(zip(expected, got)):
            out += subset_mismatches(e, g, "%s[%d]" % (path, i))
        return out
    if type(expected) is not type(got) or expected != got:
        return ["%s: expected %r, got %r" % (path, expected, got)]
    return []


@pytest.mark.parametrize("board", REAL_DTBS)
def test_real_dtb_matches_independent_reading(board):
    got = pilctl_json("devicetree", realdata("dtb/%s.dtb" % board))
    with open(os.path.join(EXPECTED_DIR, board + ".json")) as f:
        expected = json.load(f)
    assert subset_mismatches(expected, got) == []


@pytest.mark.parametrize("board", REAL_DTBS)
def test_real_dtb_table_lists_every_coprocessor(board):
    out = pilctl("devicetree", realdata("dtb/%s.dtb" % board), check=0).stdout
    with open(os.path.join(EXPECTED_DIR, board + ".json")) as f:
        expected = json.load(f)
    lines = out.splitlines()
    assert lines[2].split()[:3] == ["NAME", "STATUS", "PAS"]
    rows = [line.split() for line in lines[3:]]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (c["name"], c["dt_status"], str(c["pas_id"]), c["iommu_owner"]) for c in expected
    ]


def test_el2_tree_names_the_linux_owned_streams():
    got = pilctl_json("devicetree", realdata("dtb/x1e80100-crd-el2.dtb"))
    owned = {c["name"]: (c["firmware_sid"], c["firmware_sid_mask"]) for c in got
             if c["iommu_owner"] == "linux"}
    assert owned == {"adsp": (0x1000, 0x80), "cdsp": (0xC00, 0)}


def test_bundled_el2_board_iris_firmware_function():
    got = pilctl_json("devicetree", runfile("platform/sim/boards/sm8550-el2-sim.dtb"))
    video = [c for c in got if c["name"] == "video"]
    assert len(video) == 1
    assert video[0]["iommu_map"] == [
        {"function_id": 0, "sid_base": 0x19E2, "length": 1,
         "smmu_path": "/soc@0/iommu@15000000"}
    ]
    assert video[0]["firmware_sid"] == 0x19E2
    assert video[0]["iommu_owner"] == "linux"


def test_lazor_venus_boots_through_the_video_wrapper():
    got = pilctl_json("devicetree", realdata("dtb/sc7180-trogdor-lazor-r3.dtb"))
    video = [c for c in got if c["name"] == "video"]
    assert len(video) == 1
    assert video[0]["boot_method"] == "video_wrapper"
    assert video[0]["firmware_sid"] == 0xC42
    assert video[0]["iommu_owner"] == "linux"
    assert video[0]["problems"] == []
    table = pilctl("devicetree", realdata("dtb/sc7180-trogdor-lazor-r3.dtb"), check=0).stdout
    assert table.splitlines()[2].split()[:5] == ["NAME", "STATUS", "PAS", "IOMMU", "BOOT"]
    rows = {line.split()[0]: line.split() for line in table.splitlines()[3:]}
    assert rows["video"][4] == "video_wrapper"
    assert rows["mpss"][4] == "qdsp6_registers"


def test_herobrine_lists_wpss_booted_without_pas():
    got = pilctl_json("devicetree", realdata("dtb/sc7280-herobrine-crd.dtb"))
    wpss = [c for c in got if c["name"] == "wpss"]
    assert len(wpss) == 1
    assert wpss[0]["compatible"] == ["qcom,sc7280-wpss-pil"]
    assert wpss[0]["boot_method"] == "qdsp6_registers"
    assert wpss[0]["firmware_names"] == ["ath11k/WCN6750/hw1.0/wpss.mdt"]
    assert [(r["base"], r["size"]) for r in wpss[0]["carveouts"]] == [(0x9AE00000, 0x1900000)]
    assert len(wpss[0]["problems"]) == 1
    assert "qcom_q6v5_adsp" in wpss[0]["problems"][0]


def test_missing_file_exits_not_found():
    result = pilctl("devicetree", "/nonexistent/board.dtb", check=4)
    assert "/nonexistent/board.dtb" in result.stderr
    assert "FILE_NOT_FOUND" in result.stderr


def test_malformed_file_exits_invalid_with_reason():
    with tempfile.NamedTemporaryFile(suffix=".dtb") as f:
        f.write(b"\xd0\x0d\xfe\xed" + b"\x00" * 60)
        f.flush()
        error = pilctl_json("devicetree", f.name, check=5)["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert error["reason"] == "DTB_MALFORMED"
    assert "malformed device tree" in error["message"]


def test_truncated_real_tree_is_rejected():
    data = open(realdata("dtb/sm8550-qrd.dtb"), "rb").read()
    with tempfile.NamedTemporaryFile(suffix=".dtb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        result = pilctl("devicetree", f.name, check=5)
    assert "truncated" in result.stderr


def test_usage_errors_exit_2():
    assert pilctl("devicetree", check=2).stderr.startswith("pilctl: usage:")
    assert "unknown option --frobnicate" in pilctl("--frobnicate", "list", check=2).stderr
    assert "unknown command 'fly'" in pilctl("fly", check=2).stderr
    assert "COMMAND" in pilctl("--help", check=0).stdout
