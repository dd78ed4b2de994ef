#!/usr/bin/env python3
"""A foreign Hubble client: Python grpcio stubs generated at run time from
Portico's proto files (crates/observe/proto) call the Observer API.

Usage: hubble_client.py HOST:PORT PROTO_DIR

The server must hold the flows the Rust test (tests/hubble_python.rs)
emitted. Exit status 0 and a final "OK" line mean every check passed;
exit status 3 means grpcio/grpcio-tools are missing (the test skips).
"""

import atexit
import os
import shutil
import sys
import tempfile

try:
    import grpc
    import grpc_tools
    from grpc_tools import protoc
except ImportError as exc:  # pragma: no cover - environment dependent
    print(f"SKIP: grpcio/grpcio-tools not installed ({exc})")
    sys.exit(3)

DEADLINE = 10.0


def strip_portico_extension(proto_dir):
    """A copy of the protos without Portico's one addition (Flow.portico and
    PorticoFlowInfo): what a client built from Cilium's files knows."""
    out = tempfile.mkdtemp(prefix="hubble-upstream-protos-")
    atexit.register(shutil.rmtree, out, True)
    for rel in ["flow/flow.proto", "relay/relay.proto", "observer/observer.proto"]:
        with open(os.path.join(proto_dir, rel)) as f:
            text = f.read()
        if rel == "flow/flow.proto":
            lines, skipping = [], False
            for line in text.splitlines():
                if line.startswith("message PorticoFlowInfo"):
                    skipping = True
                if not skipping and "PorticoFlowInfo portico" not in line:
                    lines.append(line)
                if skipping and line.startswith("}"):
                    skipping = False
            text = "\n".join(lines) + "\n"
            if "message PorticoFlowInfo" in text or "PorticoFlowInfo portico" in text:
                raise SystemExit("could not strip the Portico extension")
        os.makedirs(os.path.join(out, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(out, rel), "w") as f:
            f.write(text)
    return out


def upstream_shape_check(addr, proto_dir):
    """Runs in a child process: decodes flows with extension-free stubs."""
    generate(strip_portico_extension(proto_dir))
    from flow import flow_pb2
    from observer import observer_pb2, observer_pb2_grpc

    check(not hasattr(flow_pb2, "PorticoFlowInfo"), "upstream-shaped stubs lack the extension")
    channel = grpc.insecure_channel(addr)
    stub = observer_pb2_grpc.ObserverStub(channel)
    flows = flows_of(stub.GetFlows(observer_pb2.GetFlowsRequest(number=3, first=True), timeout=DEADLINE))
    check(len(flows) == 3, "upstream-shaped client decodes 3 flows")
    check(flows[0].l7.http.code == 200, "upstream-shaped client reads l7.http.code")
    check(flows[0].destination.pod_name == "web-1", "upstream-shaped client reads destination.pod_name")
    print("OK upstream-shaped")


def generate(proto_dir):
    out = tempfile.mkdtemp(prefix="hubble-py-")
    atexit.register(shutil.rmtree, out, True)
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = ["flow/flow.proto", "relay/relay.proto", "observer/observer.proto"]
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            *files,
        ]
    )
    if rc != 0:
        raise SystemExit(f"protoc failed with {rc}")
    sys.path.insert(0, out)


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)
    print(f"ok: {what}")


def flows_of(responses):
    return [r.flow for r in responses if r.WhichOneof("response_types") == "flow"]


def main():
    if sys.argv[1] == "--upstream-shape":
        upstream_shape_check(sys.argv[2], sys.argv[3])
        return
    addr, proto_dir = sys.argv[1], sys.argv[2]
    generate(proto_dir)
    from flow import flow_pb2
    from observer import observer_pb2, observer_pb2_grpc

    channel = grpc.insecure_channel(addr)
    grpc.channel_ready_future(channel).result(timeout=DEADLINE)
    stub = observer_pb2_grpc.ObserverStub(channel)

    status = stub.ServerStatus(observer_pb2.ServerStatusRequest(), timeout=DEADLINE)
    check(status.max_flows == 4095, f"ServerStatus.max_flows = {status.max_flows}")
    check(status.seen_flows >= 3, f"ServerStatus.seen_flows = {status.seen_flows}")
    check(status.version.startswith("portico/"), f"ServerStatus.version = {status.version}")
    check(status.num_connected_nodes.value == 1, "ServerStatus.num_connected_nodes = 1")

    nodes = stub.GetNodes(observer_pb2.GetNodesRequest(), timeout=DEADLINE).nodes
    check(len(nodes) == 1 and nodes[0].name == "py-node", "GetNodes lists this node")

    namespaces = [
        n.namespace
        for n in stub.GetNamespaces(observer_pb2.GetNamespacesRequest(), timeout=DEADLINE).namespaces
    ]
    check(
        {"infra", "shop"} <= set(namespaces) and namespaces == sorted(namespaces),
        f"GetNamespaces lists the flows' namespaces sorted: {namespaces}",
    )
    agent = list(stub.GetAgentEvents(observer_pb2.GetAgentEventsRequest(number=5), timeout=DEADLINE))
    check(
        len(agent) == 1
        and agent[0].agent_event.type == flow_pb2.AGENT_STARTED
        and agent[0].agent_event.HasField("agent_start"),
        "GetAgentEvents: AGENT_STARTED",
    )
    debug = list(stub.GetDebugEvents(observer_pb2.GetDebugEventsRequest(), timeout=DEADLINE))
    check(debug == [], "GetDebugEvents: a valid empty stream")

    history = flows_of(
        stub.GetFlows(observer_pb2.GetFlowsRequest(number=3, first=True), timeout=DEADLINE)
    )
    check(len(history) == 3, f"GetFlows first 3 -> {len(history)} flows")
    codes = [f.l7.http.code for f in history]
    check(codes == [200, 404, 503], f"HTTP codes in order: {codes}")
    first = history[0]
    check(first.verdict == flow_pb2.FORWARDED, "verdict FORWARDED")
    check(first.Type == flow_pb2.L7, "flow type L7")
    check(first.IP.source == "192.0.2.10", f"IP.source = {first.IP.source}")
    check(first.l4.TCP.destination_port == 8080, "l4.TCP.destination_port = 8080")
    check(first.destination.pod_name == "web-1", "destination.pod_name = web-1")
    check(first.destination.namespace == "shop", "destination.namespace = shop")
    check(first.destination_service.name == "web", "destination_service.name = web")
    check(first.l7.http.method == "GET", "l7.http.method = GET")
    check(first.event_type.type == 129, "event_type.type = 129 (access log)")
    check(first.node_name == "py-node", "node_name = py-node")
    check(len(first.uuid) == 36, f"uuid {first.uuid}")
    check(history[2].verdict == flow_pb2.ERROR, "third flow verdict ERROR")

    errors = flows_of(
        stub.GetFlows(
            observer_pb2.GetFlowsRequest(
                first=True,
                number=100,
                whitelist=[flow_pb2.FlowFilter(http_status_code=["5+"])],
            ),
            timeout=DEADLINE,
        )
    )
    check([f.l7.http.code for f in errors] == [503], "whitelist http_status_code 5+")

    not_404 = flows_of(
        stub.GetFlows(
            observer_pb2.GetFlowsRequest(
                first=True,
                number=2,
                whitelist=[flow_pb2.FlowFilter(destination_pod=["shop/web-"])],
                blacklist=[flow_pb2.FlowFilter(http_path=["^/missing"])],
            ),
            timeout=DEADLINE,
        )
    )
    got = [f.l7.http.code for f in not_404]
    check(got == [200, 503], f"whitelist pod minus blacklist path: {got}")

    dropped = flows_of(
        stub.GetFlows(
            observer_pb2.GetFlowsRequest(
                whitelist=[flow_pb2.FlowFilter(verdict=[flow_pb2.DROPPED])]
            ),
            timeout=DEADLINE,
        )
    )
    check(dropped == [], "no DROPPED flows")

    try:
        list(
            stub.GetFlows(
                observer_pb2.GetFlowsRequest(
                    whitelist=[flow_pb2.FlowFilter(source_ip=["10.0.0.0/99"])]
                ),
                timeout=DEADLINE,
            )
        )
        check(False, "bad CIDR rejected")
    except grpc.RpcError as err:
        check(
            err.code() == grpc.StatusCode.INVALID_ARGUMENT,
            f"bad CIDR -> {err.code()}: {err.details()}",
        )

    # Follow: the Rust test keeps emitting "/tick" flows while we run.
    stream = stub.GetFlows(
        observer_pb2.GetFlowsRequest(
            follow=True, whitelist=[flow_pb2.FlowFilter(http_path=["^/tick$"])]
        ),
        timeout=DEADLINE,
    )
    followed = None
    for resp in stream:
        if resp.WhichOneof("response_types") == "flow":
            followed = resp.flow
            break
    stream.cancel()
    check(followed is not None and followed.l7.http.url.endswith("/tick"), "follow got a new flow")

    # Portico's extension is visible to these stubs...
    check(history[0].portico.gateway_name == "gw", "Portico extension: gateway infra/gw")
    # ...and a client built without it (as from Cilium's files) still works.
    import subprocess

    child = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--upstream-shape", addr, proto_dir],
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(child.stdout, end="")
    check(child.returncode == 0 and "OK upstream-shaped" in child.stdout, f"upstream-shaped client: {child.stderr}")

    print("OK")


if __name__ == "__main__":
    main()
