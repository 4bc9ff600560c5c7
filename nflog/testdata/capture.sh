#!/usr/bin/env bash
# Records testdata/lo-mixed.pcap from the running kernel with tcpdump, as
# `tcpdump -i nflog:5 -w` writes it. Needs root, iptables, ip6tables,
# tcpdump, setpriv, bash. Traffic stays on the loopback of a namespace of
# its own. Run from the repository root: bash nflog/testdata/capture.sh
set -euo pipefail
out=${1:-nflog/testdata/lo-mixed.pcap}
ns=nflog-capture-$$
ip netns add "$ns"
trap 'ip netns delete "$ns"' EXIT
x() { ip netns exec "$ns" "$@"; }
x ip link set lo up
x ip addr add ::1/128 dev lo 2>/dev/null || true
x iptables -A OUTPUT -o lo -j NFLOG --nflog-group 5 --nflog-prefix "out"
x iptables -A INPUT -i lo -p udp -j NFLOG --nflog-group 5 --nflog-prefix "in udp" --nflog-size 48
x iptables -A INPUT -i lo -p icmp -j MARK --set-mark 0x2a
x iptables -A INPUT -i lo -p icmp -j NFLOG --nflog-group 5 --nflog-prefix "in icmp"
x ip6tables -A OUTPUT -o lo -p udp -j NFLOG --nflog-group 5 --nflog-prefix "out6"
x timeout -s INT 3 tcpdump -i nflog:5 -U -w "$out" 2>/dev/null &
dump=$!
sleep 1
# 1: UDP as uid 1234 gid 5678 (OUTPUT with uid/gid, INPUT cut to 48 bytes)
x setpriv --reuid=1234 --regid=5678 --clear-groups bash -c 'echo -n hello-nflog-udp-payload-that-is-longer-than-48-bytes > /dev/udp/127.0.0.1/9'
# 2: the kernel answers 1 with ICMP port unreachable (OUTPUT "out", INPUT "in icmp" with mark 0x2a)
# 3: IPv6 UDP
x bash -c 'echo -n v6 > /dev/udp/::1/9' || true
# 4: TCP SYN to a closed port (RST comes back)
x bash -c 'exec 3<>/dev/tcp/127.0.0.1/1' 2>/dev/null || true
wait "$dump" || true
echo "wrote $out"
