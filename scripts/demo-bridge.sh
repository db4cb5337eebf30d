#!/usr/bin/env bash
# A local demonstration of parent-agent's bridges in simulation (no Nitro hardware):
#
#   gateway --TCP--> parent-agent ingress --(simulated vsock 16:50051)--> stand-in enclave
#   enclave --(simulated vsock 3:8080)--> parent-agent egress --TCP--> stand-in gateway
#   enclave --(simulated vsock 3:8081, HTTP CONNECT)--> allowlist --> allowed or 403
#
# The stand-ins are echo servers (netbench); the enclave application itself arrives with
# later issues. Leaves nothing behind: processes, sockets and the temp dir are removed.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
# shellcheck source=scripts/lib/build.sh
source scripts/lib/build.sh
step "building parent-agent and netbench"
build_bins dev -p parent-agent -p sigil-netbench
WORK=$(mktemp -d /tmp/sigil-demo.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
INGRESS=$(free_port); GW=$(free_port)

step "starting a stand-in Sign Gateway (echo) on 127.0.0.1:$GW"
"$BIN/netbench" serve --listen "tcp://127.0.0.1:$GW" 2>/dev/null & PIDS+=($!)

cat >"$WORK/agent.toml" <<TOML
[vsock]
simulation_dir = "$WORK/vsock"

[ingress]
listen = "tcp://127.0.0.1:$INGRESS"

[[egress.route]]
listen = "vsock://any:8080"
to = "127.0.0.1:$GW"

[[egress.route]]
listen = "vsock://any:8081"
http_connect = true

[[egress.allow]]
host = "127.0.0.1"
port = $GW
TOML
step "checking the configuration"
"$BIN/parent-agent" check-config "$WORK/agent.toml"

step "starting parent-agent (vsock simulated in $WORK/vsock)"
"$BIN/parent-agent" run --config "$WORK/agent.toml" >"$WORK/agent.log" & PIDS+=($!)
for _ in $(seq 100); do grep -q '"event":"ready"' "$WORK/agent.log" 2>/dev/null && break; sleep 0.05; done
grep -q '"event":"ready"' "$WORK/agent.log" || { echo "parent-agent did not start:"; cat "$WORK/agent.log"; exit 1; }

step "starting a stand-in enclave (echo) on simulated vsock 16:50051"
"$BIN/netbench" serve --listen "unix://$WORK/vsock/vsock-16-50051.sock" 2>/dev/null & PIDS+=($!)
for _ in $(seq 100); do [[ -S "$WORK/vsock/vsock-16-50051.sock" ]] && break; sleep 0.05; done

step "traffic"
python3 - "$WORK" "$INGRESS" "$GW" <<'PY'
import json, socket, sys
work, ingress, gw = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def roundtrip(sock, msg):
    sock.sendall(msg)
    got = b""
    while len(got) < len(msg):
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return got

def unix(port):
    s = socket.socket(socket.AF_UNIX)
    s.connect(f"{work}/vsock/vsock-3-{port}.sock")
    return s

def connect(target):
    s = unix(8081)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, head.split(b"\r\n")[0].decode()

with socket.create_connection(("127.0.0.1", ingress)) as s:
    print(json.dumps({"path": "gateway -> ingress -> enclave", "echo": roundtrip(s, b"sign-request-1").decode()}))
with unix(8080) as s:
    print(json.dumps({"path": "enclave -> egress 8080 -> gateway", "echo": roundtrip(s, b"sse-subscribe").decode()}))
s, status = connect(f"127.0.0.1:{gw}")
print(json.dumps({"path": "enclave -> CONNECT 127.0.0.1 (allowlisted)", "status": status, "echo": roundtrip(s, b"hello").decode()}))
s.close()
for target in ["169.254.169.254:80", f"127.0.0.1:{gw + 1}", "example.com:443"]:
    s, status = connect(target)
    print(json.dumps({"path": f"enclave -> CONNECT {target}", "status": status}))
    s.close()
PY

step "parent-agent's allowlist decisions (JSON log lines)"
sleep 0.2
grep '"event":"egress_decision"' "$WORK/agent.log" | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    print(json.dumps({k: d.get(k) for k in ("decision", "reason", "destination", "resolved", "detail") if d.get(k)}))'
step "done; stopping (SIGTERM drains, then exits)"
