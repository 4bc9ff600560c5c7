#!/usr/bin/env bash
# make demo: build the execd binary, log a little traffic in a network
# namespace of our own through an NFLOG rule, and print the metrics the
# binary produced. Without root it replays the capture in nflog/testdata.
# Traffic goes only to the namespace's loopback; the namespace is removed
# on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/telegraf-nflog
go build -o "$bin" ./cmd/telegraf-nflog

tmp=$(mktemp -d)
conf=$tmp/plugin.conf

if [ "$(id -u)" != 0 ]; then
	echo "# Not root: binding an NFLOG group needs CAP_NET_ADMIN, so this replays"
	echo "# nflog/testdata/lo-mixed.pcap (tcpdump -i nflog:5 -w) instead."
	cat > "$conf" <<-'CONF'
	[[inputs.nflog]]
	  groups = [5]
	  extra_tags = ["hook", "ip_proto"]
	  extra_fields = ["src", "dst", "dport"]
	CONF
	"$bin" -config "$conf" -pcap nflog/testdata/lo-mixed.pcap
	rm -rf "$tmp"
	exit 0
fi

make -s deps-demo
ns=nflog-demo-$$
cleanup() { ip netns delete "$ns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
ip netns add "$ns"
x() { ip netns exec "$ns" "$@"; }
x ip link set lo up
x iptables -A OUTPUT -o lo -p udp --dport 9 -j NFLOG --nflog-group 5 --nflog-prefix "ACCEPT:lan"
x iptables -A INPUT -i lo -p tcp --syn -j NFLOG --nflog-group 5 --nflog-prefix "DROP:wan"
x iptables -A INPUT -i lo -p tcp --syn -j DROP
x ip6tables -A OUTPUT -o lo -p udp -j NFLOG --nflog-group 5 --nflog-prefix "ACCEPT:lan6"

cat > "$conf" <<CONF
[[inputs.nflog]]
  groups = [5]
  netns = "/run/netns/$ns"
  metrics = "packets,counters,top"
  extra_tags = ["hook", "ip_proto"]
  extra_fields = ["src", "dst", "dport", "seq"]
  prefix_pattern = '^(?P<action>[A-Z]+):(?P<zone>\w+)'
  [[inputs.nflog.top]]
    name = "src"
    key = ["src"]
  [[inputs.nflog.top]]
    name = "dport"
    key = ["action", "dport"]
CONF
echo "# rules in namespace $ns:"
x iptables -S | grep -v '^-P' | sed 's/^/#   iptables /'
x ip6tables -S | grep -v '^-P' | sed 's/^/#   ip6tables /'
echo "# plugin.conf:"; sed 's/^/#   /' "$conf"
echo "# metrics ($bin -config plugin.conf -poll-interval 0): the packets, then, on"
echo "# one line to its standard input, the counters, rankings and statistics once:"

# The binary emits the statistics on each line of its standard input
# (-poll-interval 0: never on a timer) and stops at its end. The block
# below sends the traffic, waits for its packets in the output, asks for
# the statistics with one line, waits for them and closes the input. Each
# wait is bounded (100 x 50ms).
out=$tmp/metrics
: > "$out"
wait_for() { for _ in $(seq 100); do if "$@"; then return 0; fi; sleep 0.05; done; return 0; }
packets() { [ "$(grep -c '^nflog,' "$out")" -ge 5 ]; }
{
	wait_for x grep -qE '^ *5 ' /proc/net/netfilter/nfnetlink_log
	for i in 1 2 3; do x bash -c "echo -n demo$i > /dev/udp/127.0.0.1/9"; done
	x bash -c 'echo -n v6 > /dev/udp/::1/9'
	x timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/22' 2>/dev/null || true
	wait_for packets
	echo
	wait_for grep -q '^nflog_stats' "$out"
} | "$bin" -config "$conf" -poll-interval 0 | tee "$out"
