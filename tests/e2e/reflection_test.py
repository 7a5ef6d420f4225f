"""pild driven by a client that knows nothing of its schema but what server
reflection tells it: `buf curl` (npm package @bufbuild/buf), as grpcurl
users work. Lists the methods, checks health, decodes an error's ErrorInfo
from the reflected schema, and follows a Watch while the same client starts
and stops a coprocessor."""

import base64
import json
import os
import subprocess
import threading

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from pildtest import (buf_binary, reflection_pb2, reflection_pb2_grpc, running_pild,
                      signed_firmware_for, wait_until)


def curl_args(server, method=None, data=None):
    args = [buf_binary(), "curl", "--protocol", "grpc", "--http2-prior-knowledge",
            "--unix-socket", server.socket, "--emit-defaults"]
    if data is not None:
        args += ["--data", json.dumps(data)]
    if method is None:
        return args + ["--list-methods", "http://localhost"]
    return args + ["http://localhost/" + method]


def buf_curl(server, method=None, data=None, check=0):
    result = subprocess.run(curl_args(server, method, data), capture_output=True,
                            text=True, timeout=60, env={"HOME": server.dir})
    assert result.returncode == check, (
        "buf curl %s exited %d, expected %d\nstdout:\n%s\nstderr:\n%s"
        % (method, result.returncode, check, result.stdout, result.stderr))
    return result


def json_documents(text):
    """The JSON documents buf prints one after another."""
    decoder = json.JSONDecoder()
    documents, at = [], 0
    text = text.strip()
    while at < len(text):
        document, end = decoder.raw_decode(text, at)
        documents.append(document)
        at = end
        while at < len(text) and text[at].isspace():
            at += 1
    return documents


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """pild on the bundled board, with test-signed firmware for each
    coprocessor."""
    with running_pild() as probe, probe.client() as client:
        coprocessors = client.list()
    firmware = signed_firmware_for(str(tmp_path_factory.mktemp("fw")), coprocessors)
    with running_pild("--firmware-path=" + firmware) as server:
        yield server


def test_lists_every_method_including_health(server):
    methods = set(buf_curl(server).stdout.split())
    for method in ["ListCoprocessors", "GetCoprocessor", "Authenticate", "Map", "Reset",
                   "Start", "Stop", "Watch", "InspectImage", "UploadFirmware",
                   "GetCoredump", "GetHistory"]:
        assert "pil.v1.LifecycleService/" + method in methods
    assert "grpc.health.v1.Health/Check" in methods
    assert "grpc.health.v1.Health/Watch" in methods


def test_health_check_of_pild_and_of_one_coprocessor(server):
    overall = json.loads(buf_curl(server, "grpc.health.v1.Health/Check",
                                  {"service": "pil.v1.LifecycleService"}).stdout)
    assert overall == {"status": "SERVING"}
    cdsp = json.loads(buf_curl(server, "grpc.health.v1.Health/Check",
                               {"service": "pil.v1.LifecycleService/cdsp"}).stdout)
    assert cdsp == {"status": "NOT_SERVING"}


def reflected_message_class(server, full_name):
    """The message class for `full_name` built only from the descriptors
    pild's reflection service returns, as a reflection-only client does."""
    with server.channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=full_name)
        [reply] = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    assert reply.WhichOneof("message_response") == "file_descriptor_response", reply
    files = [descriptor_pb2.FileDescriptorProto.FromString(b)
             for b in reply.file_descriptor_response.file_descriptor_proto]
    pool, added = descriptor_pool.DescriptorPool(), set()
    while len(added) < len(files):  # dependencies first
        ready = [f for f in files if f.name not in added and set(f.dependency) <= added]
        assert ready, "reflection left out a dependency of %s" % full_name
        for f in ready:
            pool.Add(f)
            added.add(f.name)
    return message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName(full_name))


def test_a_failed_call_carries_an_error_info_reflection_decodes(server):
    result = buf_curl(server, "pil.v1.LifecycleService/Start",
                      {"name": "gpu", "requestId": "reflection-unknown"}, check=40)
    error = json.loads(result.stderr)
    assert error["code"] == "not_found"
    assert "known: adsp, video, cdsp" in error["message"]
    [detail] = error["details"]
    assert detail["type"] == "google.rpc.ErrorInfo"
    # buf prints details it has no compiled-in type for as bytes; the
    # schema to decode them comes from pild's reflection.
    value = base64.b64decode(detail["value"] + "=" * (-len(detail["value"]) % 4))
    info = reflected_message_class(server, "google.rpc.ErrorInfo").FromString(value)
    assert info.reason == "UNKNOWN_COPROCESSOR"
    assert info.domain == "pild"
    assert dict(info.metadata) == {"coprocessor": "gpu"}


def test_watch_streams_the_current_state_then_each_change(server):
    watch = subprocess.Popen(curl_args(server, "pil.v1.LifecycleService/Watch", {"name": "video"}),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={"HOME": server.dir})
    out = []
    reader = threading.Thread(target=lambda: out.extend(iter(watch.stdout.readline, "")))
    reader.start()
    events = lambda: json_documents("".join(out))
    try:
        assert wait_until(lambda: len(events()) >= 1), "".join(out)
        started = json.loads(buf_curl(server, "pil.v1.LifecycleService/Start",
                                      {"name": "video", "requestId": "reflection-start"}).stdout)
        assert started["coprocessor"]["state"] == "STATE_RUNNING"
        stopped = json.loads(buf_curl(server, "pil.v1.LifecycleService/Stop",
                                      {"name": "video", "requestId": "reflection-stop"}).stdout)
        assert stopped["coprocessor"]["state"] == "STATE_OFFLINE"
        assert wait_until(lambda: len(events()) >= 6), "".join(out)
    finally:
        watch.terminate()
        watch.wait(timeout=10)
        reader.join(timeout=10)
    seen = events()
    assert seen[0]["initial"] is True
    assert (seen[0]["coprocessor"]["name"], seen[0]["coprocessor"]["state"]) == \
        ("video", "STATE_OFFLINE")
    assert [(e["initial"], e["coprocessor"]["state"], e["operation"]) for e in seen[1:]] == [
        (False, "STATE_AUTHENTICATED", "OPERATION_START"),
        (False, "STATE_MAPPED", "OPERATION_START"),
        (False, "STATE_RUNNING", "OPERATION_START"),
        (False, "STATE_STOPPING", "OPERATION_STOP"),
        (False, "STATE_OFFLINE", "OPERATION_STOP")]
    sequences = [int(e["sequence"]) for e in seen[1:]]
    assert sequences == list(range(sequences[0], sequences[0] + 5))
