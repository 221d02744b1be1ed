#!/usr/bin/env bash
# compare.sh: the event bus against NATS on this machine, in one run.
#
# Installs nats-server when it is missing (Debian's package, as root),
# builds natsbench, report and plot (module bench/) and ebbench (the root
# module), then runs natsbench and `ebbench -raw` RUNS times each,
# alternating, so that both see the same machine at the same time. Writes
#
#   bench/results/<date>/runs/{nats,eventbus}-N.json   every run
#   bench/results/<date>/{nats,eventbus}.json          the median run of each scenario
#   bench/results/<date>/table.md                      the comparison table, with ratios
#   bench/results/<date>/latency.png                   the latency percentile plot
#
# and prints the table. Settings come from the environment:
#
#   RUNS=3          runs of each tool
#   QUICK=1         small counts (-quick), a smoke test
#   COUNT, SIZE, RATE, LATENCY_COUNT, REQREP_COUNT
#                   passed to both tools as -count, -size, -rate,
#                   -latency-count, -reqrep-count when set
#   NATS_PACER=timer
#                   natsbench -pacer: timer paces with Go's timers, as
#                   ebbench does; hrtimer with clock_nanosleep
#   NATS_FLAGS, EB_FLAGS   more flags for natsbench and ebbench
#   GOGC, GOMEMLIMIT, GOMAXPROCS
#                   Go runtime settings; when set they reach every process
#                   of both systems (the tools, their clients, both
#                   brokers), and table.md names them
#   OUT=dir         where to write (default bench/results/<UTC date>)
#
#   bench/compare.sh                 # the full comparison, about 3 × 1.5 min
#   QUICK=1 RUNS=1 bench/compare.sh  # a quick check of the tooling
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

RUNS=${RUNS:-3}
OUT=${OUT:-$here/results/$(date -u +%Y-%m-%d)}
NATS_PACER=${NATS_PACER:-timer}

say() { printf '== %s\n' "$*" >&2; }

# nats-server: Debian's package.
if ! command -v nats-server >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing nats-server (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  else
    echo "compare.sh: nats-server is missing; install it (Debian: sudo apt-get install nats-server)" >&2
    exit 1
  fi
fi
# The package's service, if an init system started it, listens on 4222;
# natsbench starts its own server on a free loopback port and does not use it.

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
say "building natsbench, report, plot"
(cd "$here" && go build -o "$bin/" ./natsbench ./report ./plot)
have_eb=0
if [ -d "$root/cmd/ebbench" ]; then
  say "building ebbench"
  (cd "$root" && go build -o "$bin/ebbench" ./cmd/ebbench)
  have_eb=1
else
  say "cmd/ebbench not found: NATS only"
fi

common=()
[ "${QUICK:-0}" = 1 ] && common+=(-quick)
[ -n "${COUNT:-}" ] && common+=(-count "$COUNT")
[ -n "${SIZE:-}" ] && common+=(-size "$SIZE")
[ -n "${RATE:-}" ] && common+=(-rate "$RATE")
[ -n "${LATENCY_COUNT:-}" ] && common+=(-latency-count "$LATENCY_COUNT")
[ -n "${REQREP_COUNT:-}" ] && common+=(-reqrep-count "$REQREP_COUNT")
read -r -a nats_extra <<<"${NATS_FLAGS:-}"
read -r -a eb_extra <<<"${EB_FLAGS:-}"

mkdir -p "$OUT/runs"
rm -f "$OUT"/runs/*.json
nats_runs=() eb_runs=()
for i in $(seq 1 "$RUNS"); do
  say "run $i/$RUNS: natsbench ${common[*]} -pacer $NATS_PACER ${nats_extra[*]}"
  "$bin/natsbench" -json "${common[@]}" -pacer "$NATS_PACER" "${nats_extra[@]}" >"$bin/nats.json"
  mv "$bin/nats.json" "$OUT/runs/nats-$i.json"
  nats_runs+=("$OUT/runs/nats-$i.json")
  if [ "$have_eb" = 1 ]; then
    say "run $i/$RUNS: ebbench -raw ${common[*]} ${eb_extra[*]}"
    (cd "$root" && "$bin/ebbench" -raw -json "${common[@]}" "${eb_extra[@]}") >"$bin/eventbus.json"
    mv "$bin/eventbus.json" "$OUT/runs/eventbus-$i.json"
    eb_runs+=("$OUT/runs/eventbus-$i.json")
  fi
done

files=()
if [ "$have_eb" = 1 ]; then
  "$bin/report" merge -o "$OUT/eventbus.json" "${eb_runs[@]}"
  files+=("$OUT/eventbus.json")
fi
"$bin/report" merge -o "$OUT/nats.json" "${nats_runs[@]}"
files+=("$OUT/nats.json")

"$bin/report" table "${files[@]}" >"$OUT/table.md"
runtime_env=$(env | grep -E '^(GOGC|GOMEMLIMIT|GOMAXPROCS)=' | sort | tr '\n' ' ' || true)
if [ -n "$runtime_env" ]; then
  printf -- '- Go runtime settings of every process, both systems: %s\n' "${runtime_env% }" |
    cat - "$OUT/table.md" >"$OUT/table.md.new"
  mv "$OUT/table.md.new" "$OUT/table.md"
fi
"$bin/plot" -o "$OUT/latency.png" "${files[@]}"
say "wrote $OUT"
cat "$OUT/table.md"
