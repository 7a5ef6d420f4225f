"""`pilctl inspect` on real and test-signed images: verdicts, JSON, exit codes."""

import os
import shutil
import subprocess

import pytest

from pildtest import binary, pilctl, pilctl_json, realdata, runfile

REAL = {
    "firmware/qcom/venus-5.2/venus.mbn": (3, "sha256", "rsa_pkcs1_sha256_hmac"),
    "firmware/qcom/sdm845/cdsp.mbn": (5, "sha256", "rsa_pss_sha256"),
    "firmware/qcom/sm8250/cdsp.mbn": (6, "sha384", "rsa_pss_sha256"),
    "firmware/qcom/vpu/vpu30_p4.mbn": (7, "sha384", "ecdsa_p384_sha384"),
}


def pilimage(*args):
    result = subprocess.run([binary("tools/pilimage"), *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("path", sorted(REAL))
def test_real_image_json(path):
    version, algorithm, scheme = REAL[path]
    report = pilctl_json("inspect", realdata(path))
    assert report["ok"] is True
    assert report["version"] == version
    assert report["hash_algorithm"] == algorithm
    assert report["hash_ok"] is True
    assert report["segments"] and all(s["hash_ok"] for s in report["segments"])
    assert [s["index"] for s in report["segments"]] == list(range(len(report["segments"])))
    assert len(report["signers"]) == 1
    signer = report["signers"][0]
    assert (signer["scheme"], signer["signature_ok"], signer["chain_ok"]) == (scheme, True, True)
    assert len(signer["root_sha256"]) == 64
    assert report["problems"] == []
    # The file digest is that of the bytes on disk.
    import hashlib
    assert report["sha256"] == hashlib.sha256(open(realdata(path), "rb").read()).hexdigest()


def test_real_image_text():
    out = pilctl("inspect", realdata("firmware/qcom/vpu/vpu30_p4.mbn"), check=0).stdout
    assert "hash table: v7, sha384, every entry matches" in out
    assert "signer oem: ecdsa_p384_sha384, signature ok, chain ok" in out
    assert "version: vfw-0:rel0095" in out
    assert out.rstrip().endswith("verdict: OK")


def test_split_form_is_found_beside_the_mdt(tmp_path):
    pilimage("split", realdata("firmware/qcom/sm8250/cdsp.mbn"), str(tmp_path))
    assert (tmp_path / "cdsp.mdt").exists() and (tmp_path / "cdsp.b05").exists()
    report = pilctl_json("inspect", str(tmp_path / "cdsp.mdt"))
    assert report["ok"] and report["split"]
    assert report["segments"][5]["file"] == "cdsp.b05"
    mono = pilctl_json("inspect", realdata("firmware/qcom/sm8250/cdsp.mbn"))
    assert report["metadata_sha256"] == mono["metadata_sha256"]
    (tmp_path / "cdsp.b05").unlink()
    error = pilctl_json("inspect", str(tmp_path / "cdsp.mdt"), check=4)["error"]
    assert error["reason"] == "SPLIT_SEGMENT_MISSING"
    assert error["metadata"] == {"segment": "5", "file": "cdsp.b05"}


def test_squash_restores_a_verifying_image(tmp_path):
    pilimage("split", realdata("firmware/qcom/sdm845/cdsp.mbn"), str(tmp_path))
    pilimage("squash", str(tmp_path / "cdsp.mdt"), str(tmp_path / "back.mbn"))
    assert pilctl_json("inspect", str(tmp_path / "back.mbn"))["ok"]


def test_corrupted_image_exits_9_and_names_the_segment(tmp_path):
    data = bytearray(open(realdata("firmware/qcom/sdm845/cdsp.mbn"), "rb").read())
    data[0x44000 + 1000] ^= 0xFF  # inside segment 5
    path = tmp_path / "cdsp.mbn"
    path.write_bytes(bytes(data))
    report = pilctl_json("inspect", str(path), check=9)
    assert report["ok"] is False
    assert [(p["reason"], p["segment"]) for p in report["problems"]] == [("HASH_MISMATCH", 5)]
    assert [s["hash_ok"] for s in report["segments"]].index(False) == 5
    text = pilctl("inspect", str(path), check=9).stdout
    assert "HASH_MISMATCH: segment 5" in text


def test_truncated_and_garbage_files_exit_5(tmp_path):
    data = open(realdata("firmware/qcom/venus-5.2/venus.mbn"), "rb").read()
    (tmp_path / "short.mbn").write_bytes(data[:40])
    error = pilctl_json("inspect", str(tmp_path / "short.mbn"), check=5)["error"]
    assert error["reason"] == "IMAGE_TOO_SHORT"
    (tmp_path / "text.mbn").write_bytes(b"hello, this is not an ELF file at all" * 3)
    assert pilctl_json("inspect", str(tmp_path / "text.mbn"), check=5)["error"]["reason"] == "ELF_BAD_MAGIC"
    assert pilctl("inspect", str(tmp_path / "absent.mbn"), check=4).returncode == 4


def test_carveout_option():
    video = realdata("firmware/qcom/vpu/vpu30_p4.mbn")
    assert pilctl_json("inspect", video, "--carveout=0x9bb00000+0x700000")["ok"]
    report = pilctl_json("inspect", video, "--carveout=0x9bb00000+0x600000", check=9)
    assert report["problems"][0]["reason"] == "IMAGE_TOO_LARGE"
    assert "0xf500000..0xfc00000" in report["problems"][0]["message"]
    assert pilctl("inspect", video, "--carveout=big", check=2).returncode == 2


@pytest.mark.parametrize("name,version,scheme", [
    ("v3-pkcs1.mbn", 3, "rsa_pkcs1_sha256_hmac"),
    ("v3-pss.mbn", 3, "rsa_pss_sha256"),
    ("v5-pss.mbn", 5, "rsa_pss_sha256"),
    ("v6-pss.mbn", 6, "rsa_pss_sha256"),
    ("v6-ecdsa.mbn", 6, "ecdsa_p384_sha384"),
    ("v7-ecdsa.mbn", 7, "ecdsa_p384_sha384"),
    ("v6-elf64.mbn", 6, "rsa_pss_sha256"),
])
def test_test_signed_images(name, version, scheme):
    report = pilctl_json("inspect", runfile("tests/images/" + name))
    assert report["ok"] and report["version"] == version
    assert report["signers"][0]["scheme"] == scheme
    roots = dict(line.split()[::-1] for line in open(runfile("platform/image/testkeys/ROOT_SHA256")))
    assert report["signers"][0]["root_sha256"] in roots.values()


@pytest.mark.parametrize("defect,reason,key,value", [
    ("hash:3", "HASH_MISMATCH", "segment", 3),
    ("signature", "SIGNATURE_INVALID", "signer", "oem"),
    ("certificate:1", "CHAIN_BROKEN", "certificate", 1),
    ("unsigned", "SIGNATURE_MISSING", "segment", -1),
])
def test_signing_defects_are_reported(tmp_path, defect, reason, key, value):
    elf = tmp_path / "fw.elf"
    pilimage("synth", "--base=0x9c900000", str(elf))
    mbn = tmp_path / "fw.mbn"
    pilimage("sign", "--keys=" + runfile("platform/image/testkeys"), "--version=6",
              "--defect=" + defect, str(elf), str(mbn))
    report = pilctl_json("inspect", str(mbn), check=9)
    assert report["problems"][0]["reason"] == reason
    assert report["problems"][0][key] == value
