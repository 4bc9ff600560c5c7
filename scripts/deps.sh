#!/usr/bin/env bash
# scripts/deps.sh TARGET "TOOLS" "PACKAGES": install the Debian PACKAGES when
# any of TOOLS is missing, for the make target TARGET (the Makefile holds
# the lists of each target: make deps, make deps-demo).
#
# No service starts: Debian's influxdb and prometheus packages start their
# daemons on install (through invoke-rc.d, or deb-systemd-invoke under
# systemd), which a test or demo machine does not want running. Both ask
# policy-rc.d first, so a policy-rc.d that denies every action (exit 101,
# see /usr/share/doc/init-system-helpers/README.policy-rc.d) is in place
# while apt-get runs; the one that was there before comes back afterwards,
# or none, also when apt-get fails. Recommended packages are left out for
# the same reason (prometheus recommends the node exporter, a service).
#
# POLICY_RC_D and APT_GET replace /usr/sbin/policy-rc.d and apt-get, for
# scripts/deps_test.go.
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 TARGET \"TOOLS\" \"PACKAGES\"" >&2
	exit 2
fi
target=$1
read -r -a tools <<<"$2"
read -r -a packages <<<"$3"
policy=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
apt_get=${APT_GET:-apt-get}

missing=()
for t in "${tools[@]}"; do
	command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "make $target: installing ${packages[*]} (missing: ${missing[*]})"
if [ -z "${APT_GET:-}" ] && [ "$(id -u)" != 0 ]; then
	echo "make $target: need root to run: apt-get install ${packages[*]}" >&2
	exit 1
fi

backup=""
if [ -e "$policy" ]; then
	backup=$(mktemp)
	cp -p "$policy" "$backup"
fi
restore() {
	if [ -n "$backup" ]; then
		mv -f "$backup" "$policy"
	else
		rm -f "$policy"
	fi
}
trap restore EXIT
printf '#!/bin/sh\n# Written by telegraf-nflog scripts/deps.sh while it installs: no service starts.\nexit 101\n' >"$policy"
chmod 0755 "$policy"

export DEBIAN_FRONTEND=noninteractive
"$apt_get" update -qq
"$apt_get" install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
