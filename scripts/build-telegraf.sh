#!/usr/bin/env bash
# Builds Telegraf v1.37.2, with [[inputs.nflog]] compiled in (the default) or
# stock (--stock), with Telegraf's custom build tags so that only the plugins
# listed below are compiled: minutes instead of the tens of minutes a full
# Telegraf takes on a small machine.
#
#   scripts/build-telegraf.sh                  # -> bin/telegraf (with inputs.nflog)
#   scripts/build-telegraf.sh --stock          # -> bin/telegraf-stock (no nflog)
#   scripts/build-telegraf.sh --telegraf-dir ~/src/telegraf [--no-build]
#
# In-tree (default), the plugin is added the way an in-tree plugin is:
#   1. Telegraf's source is taken from the Go module cache (go mod download)
#      and copied to a writable build directory (build/telegraf-src), or with
#      --telegraf-dir DIR your own Telegraf checkout is changed in place;
#   2. plugins/inputs/nflog/ gets the plugin's non-test .go files, README.md
#      and sample.conf (embedded by nflog.go) from this checkout;
#   3. plugins/inputs/all/nflog.go registers it under the build tags
#      "!custom || inputs || inputs.nflog", as every plugin's all/*.go file;
#   4. go.mod gets "require github.com/nflogr/telegraf-nflog v0.0.0" and
#      "replace github.com/nflogr/telegraf-nflog => <this checkout>" (the
#      plugin imports this module's nflog library and its spacesaving
#      package); resolving the build then raises Telegraf's go directive to
#      1.26.0 and the dependencies this module needs newer (golang.org/x/*,
#      gopacket, testify, ...), in go.mod and go.sum;
#   5. cmd/telegraf is built with the tags into the output file.
# Nothing else in the Telegraf tree changes. Running it again refreshes the
# plugin files and rebuilds; with a warm Go build cache that takes seconds.
set -euo pipefail

VERSION=1.37.2
MODULE=github.com/influxdata/telegraf
# Plugins built in besides inputs.nflog: what the README's telegraf.conf
# files and the execd path use, and what the pipeline benchmark's peer
# pipeline needs (ulogd2's JSON file read by inputs.tail with the json_v2
# parser, counted by aggregators.basicstats; bench/cmd/nflog-pipeline). Tag
# names as in plugins/*/all/*.go.
TAGS=custom,inputs.execd,inputs.internal,inputs.tail,outputs.file,outputs.influxdb,outputs.influxdb_v2,outputs.prometheus_client,parsers.influx,parsers.json_v2,serializers.influx,aggregators.basicstats

repo=$(cd "$(dirname "$0")/.." && pwd)
stock=false
tgdir=""
out=""
build_dir="$repo/build/telegraf-src"
do_build=true

usage() {
	cat <<EOF
usage: $0 [--stock] [--telegraf-dir DIR] [--no-build] [--out FILE] [--build-dir DIR] [--tags LIST]

Builds Telegraf v$VERSION with inputs.nflog compiled in (default, into
bin/telegraf) or stock without it (--stock, into bin/telegraf-stock), with the
custom build tags: $TAGS[,inputs.nflog].

  --stock             stock Telegraf for the execd path, no inputs.nflog
  --telegraf-dir DIR  add the plugin to your own Telegraf checkout DIR instead
                      of a copy of v$VERSION; files added or changed there:
                        plugins/inputs/nflog/*.go, README.md, sample.conf (added)
                        plugins/inputs/all/nflog.go (added)
                        go.mod, go.sum (require + replace, raised versions)
  --no-build          with --telegraf-dir: change the tree only; the script
                      prints the go build command to run
  --out FILE          the binary to write (default bin/telegraf, bin/telegraf-stock)
  --build-dir DIR     the writable copy of Telegraf's source (default build/telegraf-src)
  --tags LIST         extra build tags, comma-separated (e.g. inputs.cpu,outputs.kafka)
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--stock) stock=true ;;
	--telegraf-dir) tgdir=${2:?--telegraf-dir needs a directory}; shift ;;
	--no-build) do_build=false ;;
	--out) out=${2:?--out needs a file}; shift ;;
	--build-dir) build_dir=${2:?--build-dir needs a directory}; shift ;;
	--tags) TAGS="$TAGS,${2:?--tags needs a list}"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

die() { echo "build-telegraf: $*" >&2; exit 1; }

if $stock && [ -n "$tgdir" ]; then
	die "--stock and --telegraf-dir exclude each other: a stock build needs no Telegraf tree"
fi
if ! $do_build && [ -z "$tgdir" ]; then
	die "--no-build only makes sense with --telegraf-dir"
fi
command -v go >/dev/null || die "go not found in PATH: install Go 1.26 (https://go.dev/dl/)"
gover=$(go env GOVERSION)
case "$gover" in
go1.2[6-9]* | go1.[3-9][0-9]* | go[2-9]*) ;;
*) die "$gover is too old: this module needs Go 1.26 or newer (https://go.dev/dl/)" ;;
esac

if [ -z "$out" ]; then
	if $stock; then out="$repo/bin/telegraf-stock"; else out="$repo/bin/telegraf"; fi
fi
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

if $stock; then
	steps=3
elif $do_build; then
	steps=5
else
	steps=3
fi
step=0
say() {
	step=$((step + 1))
	echo "[$step/$steps] $*"
}

# compile runs a go build/install with -v and turns the package names it
# prints into progress lines; the full output goes to a log that is shown
# when the build fails.
compile() {
	local log=$1 total=$2
	shift 2
	local start=$SECONDS n=0 pkg status
	: >"$log"
	set +e
	"$@" 2>&1 | while IFS= read -r pkg; do
		printf '%s\n' "$pkg" >>"$log"
		n=$((n + 1))
		if [ $((n % 50)) = 0 ]; then
			echo "      $n of at most $total packages compiled ($((SECONDS - start)) s), e.g. $pkg"
		fi
	done
	status=${PIPESTATUS[0]}
	set -e
	if [ "$status" != 0 ]; then
		echo "build-telegraf: the build failed; its output ($log):" >&2
		tail -n 60 "$log" >&2
		exit 1
	fi
	echo "      compiled $(wc -l <"$log") packages (others came from the Go build cache) in $((SECONDS - start)) s"
}

ldflags="-X $MODULE/internal.Version=$VERSION"
mkdir -p "$repo/build"
# One build at a time (make and a test run may share build/).
if command -v flock >/dev/null; then
	exec 9>"$repo/build/.lock"
	flock 9
fi
export CGO_ENABLED=0 # as Telegraf's release builds: no C toolchain needed
mkdir -p "$(dirname "$out")"

# check runs the binary: right version, and the plugins it must have.
check() {
	local bin=$1
	shift
	local v have p
	v=$("$bin" --version) || die "$bin --version failed"
	have=$("$bin" plugins) || die "$bin plugins failed"
	for p in "$@"; do
		grep -qx "$p" <<<"$have" || die "$bin lacks plugin $p; it has: $(echo $have)"
	done
	echo "      $bin: $v; plugins: $(echo $have)"
}

# source prints the directory of Telegraf's module source, downloading it
# into the Go module cache if needed.
telegraf_source() {
	local dir
	dir=$(go mod download -json "$MODULE@v$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[ -n "$dir" ] && [ -d "$dir" ] || die "go mod download $MODULE@v$VERSION gave no source directory (network or GOPROXY?)"
	echo "$dir"
}

if $stock; then
	say "Telegraf v$VERSION module source (go mod download: the module proxy, unless cached)"
	src=$(telegraf_source)
	echo "      $src"

	say "compiling stock Telegraf v$VERSION (tags $TAGS); about 3 minutes on 2 cores with an empty build cache"
	# In the read-only module cache, with Telegraf's own go.mod and go.sum
	# unchanged: nothing is written there.
	total=$(cd "$src" && go list -mod=readonly -deps -tags "$TAGS" ./cmd/telegraf | wc -l) ||
		die "resolving Telegraf's dependencies failed (see above)"
	compile "$repo/build/telegraf-stock-build.log" "$total" \
		env -C "$src" go build -mod=readonly -buildvcs=false -v -tags "$TAGS" -ldflags "$ldflags" -o "$out.tmp" ./cmd/telegraf
	mv -f "$out.tmp" "$out"

	say "checking $out"
	check "$out" inputs.execd inputs.internal inputs.tail outputs.file outputs.influxdb outputs.prometheus_client aggregators.basicstats parsers.json_v2
	echo "Stock Telegraf v$VERSION (no inputs.nflog) is $out; run the plugin with [[inputs.execd]] (README)."
	exit 0
fi

TAGS="$TAGS,inputs.nflog"

if [ -n "$tgdir" ]; then
	tree=$(cd "$tgdir" && pwd) || die "--telegraf-dir $tgdir: no such directory"
	say "using your Telegraf checkout $tree (changed in place)"
	[ -f "$tree/go.mod" ] && grep -q "^module $MODULE\$" "$tree/go.mod" ||
		die "$tree is not a Telegraf checkout (no go.mod with module $MODULE)"
else
	say "Telegraf v$VERSION module source (go mod download: the module proxy, unless cached), copied to $build_dir"
	src=$(telegraf_source)
	echo "      $src"

	tree=$build_dir
	stamp="$tree/.build-telegraf-source"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$src" ]; then
		echo "      the writable copy is already there (delete $tree to start afresh)"
	else
		echo "      copying (the module cache is read-only)"
		rm -rf "$tree"
		mkdir -p "$(dirname "$tree")"
		rm -rf "$tree.tmp"
		cp -R "$src" "$tree.tmp"
		chmod -R u+w "$tree.tmp"
		mv "$tree.tmp" "$tree"
		echo "$src" >"$stamp"
	fi
fi

say "adding the plugin: plugins/inputs/nflog/ and plugins/inputs/all/nflog.go"
plugin="$tree/plugins/inputs/nflog"
rm -rf "$plugin"
mkdir -p "$plugin"
# Every non-test Go file and what they embed (//go:embed sample.conf); not
# the tests, testcases/ or testdata/, which need this repository's testutil.
n=0
for f in "$repo"/plugins/inputs/nflog/*.go; do
	case "$f" in *_test.go) continue ;; esac
	cp "$f" "$plugin/"
	n=$((n + 1))
done
cp "$repo/plugins/inputs/nflog/README.md" "$repo/plugins/inputs/nflog/sample.conf" "$plugin/"
grep -h '^//go:embed' "$plugin"/*.go | while read -r _ file; do
	[ -f "$plugin/$file" ] || die "the plugin embeds $file, which was not copied"
done
cat >"$tree/plugins/inputs/all/nflog.go" <<'EOF'
//go:build !custom || inputs || inputs.nflog

package all

import _ "github.com/influxdata/telegraf/plugins/inputs/nflog" // register plugin
EOF
echo "      $n Go files, README.md, sample.conf -> plugins/inputs/nflog/; plugins/inputs/all/nflog.go"

say "wiring the module: go.mod require + replace github.com/nflogr/telegraf-nflog => $repo"
# What go.mod was before this script first changed it: the release's, or
# your checkout's as it is now.
if [ -n "$tgdir" ]; then
	cp "$tree/go.mod" "$repo/build/telegraf-go.mod.before"
else
	cp "$src/go.mod" "$repo/build/telegraf-go.mod.before"
fi
before=$(grep -m1 '^go ' "$repo/build/telegraf-go.mod.before")
(cd "$tree" &&
	go mod edit -require=github.com/nflogr/telegraf-nflog@v0.0.0 -replace="github.com/nflogr/telegraf-nflog=$repo")
# Resolving the packages of this build with -mod=mod writes the versions
# they need into go.mod and go.sum (a go mod tidy would do the same, after
# downloading every dependency of every Telegraf plugin: several hundred
# MB and many minutes).
total=$(cd "$tree" && go list -mod=mod -deps -tags "$TAGS" ./cmd/telegraf | wc -l) ||
	die "resolving Telegraf's dependencies failed (see above)"
raised=$(diff "$repo/build/telegraf-go.mod.before" "$tree/go.mod" | grep -c '^>' || true)
echo "      go.mod: $before -> $(grep -m1 '^go ' "$tree/go.mod"); $raised lines changed (the require, the replace, versions raised to this module's)"

if ! $do_build; then
	echo "Done: $tree has inputs.nflog. Build it, e.g.: cd $tree && go build -tags $TAGS ./cmd/telegraf"
	echo "(go.mod and go.sum are complete for these tags; for more, rerun this script with --tags)"
	exit 0
fi

say "compiling Telegraf v$VERSION with inputs.nflog (tags $TAGS); about 3 minutes on 2 cores with an empty build cache"
compile "$repo/build/telegraf-build.log" "$total" \
	env -C "$tree" go build -buildvcs=false -v -tags "$TAGS" -ldflags "$ldflags" -o "$out.tmp" ./cmd/telegraf
mv -f "$out.tmp" "$out"
say "checking $out"
check "$out" inputs.nflog inputs.execd inputs.internal outputs.file outputs.influxdb outputs.prometheus_client
echo "Telegraf v$VERSION with inputs.nflog is $out."
