#!/usr/bin/env bash
# Precision corpus: runs asynclint on pinned real async projects (pure-Python wheels from PyPI, none of them in the
# speed benchmark's corpus) and scores its findings against the hand judgments in bench/precision/judgments.csv.
#
#   bench/precision/run.sh [--peers]     (--peers also compares with ruff's ASYNC and RUF006 rules)
#
# Each project is checked as its own root (`cd $project && asynclint check .`), as its maintainers would run it.
# Wheels, trees and findings live in ${ASYNCLINT_PRECISION_CACHE:-~/.cache/asynclint-precision}, outside the repo.
# The binary is $ASYNCLINT (default target/release/asynclint, relative to the repo).
# With $VIRTUAL_ENV set (one environment with every project below installed), each check follows its calls into the
# dependencies installed there, as a user's activated environment would.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
cache=${ASYNCLINT_PRECISION_CACHE:-$HOME/.cache/asynclint-precision}
corpus="$cache/corpus"
findings="$cache/findings"
asynclint=${ASYNCLINT:-target/release/asynclint}
case $asynclint in /*) ;; *) asynclint="$repo/$asynclint" ;; esac
[ -x "$asynclint" ] || { echo "no asynclint binary at $asynclint (set ASYNCLINT)" >&2; exit 1; }
mkdir -p "$corpus" "$findings"

# name==version: servers, clients, bots, brokers, database drivers, ORMs, job queues, GraphQL, a k8s operator framework,
# anyio/trio-based projects, device protocol libraries and an agent framework.
projects=(
  uvicorn==0.54.0               # ASGI server
  quart==0.22.0                 # web framework
  litestar==2.25.0              # web framework
  faststream==0.7.8             # message-broker framework
  aio-pika==10.2.1              # AMQP client
  aiormq==7.2.4                 # AMQP protocol
  nats-py==2.16.0               # NATS client
  aiobotocore==3.10.0           # AWS client
  httpcore==1.0.9               # HTTP client core (asyncio, anyio and trio back ends)
  asyncssh==2.24.1              # SSH client and server
  aiosmtplib==5.1.3             # SMTP client
  aiodocker==0.27.0             # Docker client
  motor==3.7.1                  # MongoDB driver
  aiosqlite==0.22.1             # sqlite driver
  discord.py==2.7.1             # bot framework
  python-telegram-bot==22.8     # bot framework
  slack-bolt==1.30.0            # bot framework
  anyio==4.16.0                 # concurrency library (asyncio and trio back ends)
  trio-websocket==0.12.2        # trio-based
  mcp==2.3.0                    # protocol SDK (anyio)
  pydantic-ai-slim==2.68.0      # agent framework
  python-socketio==5.18.1       # Socket.IO server and client
  tortoise-orm==1.1.9           # ORM
  beanie==2.2.0                 # MongoDB ODM
  arq==0.28.0                   # job queue (redis)
  aiocache==0.12.3              # cache library
  hikari==2.7.0                 # bot framework (Discord)
  twitchio==3.3.2               # bot framework (Twitch)
  strawberry-graphql==0.341.2   # GraphQL server
  gql==4.4.0                    # GraphQL client
  kopf==1.45.2                  # Kubernetes operator framework
  disnake==2.12.2               # bot framework (Discord)
  kurigram==2.2.26              # bot framework and MTProto client (Telegram)
  nonebot2==2.5.0               # bot framework (multi-platform)
  python-engineio==4.15.1       # Engine.IO server and client
  aiosmtpd==1.4.6               # SMTP server
  pyatv==0.18.0                 # device protocol library (Apple TV)
  bleak==3.1.0                  # device library (Bluetooth LE)
  piccolo==1.38.0               # ORM
  channels==4.3.2               # Django async layer (asgiref)
  langgraph==1.2.24             # agent framework
  aioesphomeapi==46.23.0        # device protocol library (ESPHome)
  aiokafka==0.14.0              # Kafka client
  grpclib==0.4.9                # gRPC
  httpx==0.28.1                 # HTTP client (async and sync)
  hypercorn==0.18.0             # ASGI server (asyncio and trio)
  python-kasa==0.12.0           # device library (TP-Link)
  temporalio==1.35.0            # workflow SDK
  textual==8.2.8                # terminal UI framework
  websockets==17.4              # WebSocket client and server (asyncio, trio, sync)
  zigpy==2.4.0                  # Zigbee stack
)

fetch() { # NAME==VERSION
  local spec=$1 name=${1%%==*}
  [ -d "$corpus/$name" ] && return
  local dir; dir=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary :all: -d "$dir" "$spec"
  rm -rf "$corpus/$name.partial"
  mkdir -p "$corpus/$name.partial"
  (cd "$corpus/$name.partial" && unzip -qo "$dir"/*.whl '*.py')
  mv "$corpus/$name.partial" "$corpus/$name"
  rm -rf "$dir"
}
for spec in "${projects[@]}"; do fetch "$spec"; done

names=()
for spec in "${projects[@]}"; do names+=("${spec%%==*}"); done
total_files=0 total_lines=0
printf '%-22s %-10s %6s %8s %8s\n' project version files lines findings
for spec in "${projects[@]}"; do
  name=${spec%%==*} version=${spec##*==}
  # asynclint exits 1 when it reports findings: only a crash (2 or more) stops the run.
  rc=0; (cd "$corpus/$name" && "$asynclint" check --no-cache --output-format json . >"$findings/$name.json") || rc=$?
  [ "$rc" -le 1 ] || { echo "asynclint failed on $name (exit $rc)" >&2; exit 1; }
  rc=0; (cd "$corpus/$name" && "$asynclint" check --no-cache --output-format full . >"$findings/$name.txt") || rc=$?
  [ "$rc" -le 1 ] || { echo "asynclint failed on $name (exit $rc)" >&2; exit 1; }
  files=$(find "$corpus/$name" -type f -name '*.py' | wc -l)
  lines=$(find "$corpus/$name" -type f -name '*.py' -exec cat {} + | wc -l)
  count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$findings/$name.json")
  printf '%-22s %-10s %6d %8d %8d\n' "$name" "$version" "$files" "$lines" "$count"
  total_files=$((total_files + files)) total_lines=$((total_lines + lines))
done
printf '%-22s %-10s %6d %8d\n' total '' "$total_files" "$total_lines"

peers=()
if [ "${1:-}" = --peers ]; then
  [ -x "$cache/venv/bin/ruff" ] || { python3 -m venv "$cache/venv" && "$cache/venv/bin/pip" install -q ruff==0.17.5; }
  for name in "${names[@]}"; do
    (cd "$corpus/$name" && "$cache/venv/bin/ruff" check --no-cache --isolated --select ASYNC,RUF006 --preview \
      --output-format json . >"$findings/$name.ruff.json" 2>/dev/null) || true
  done
  peers=(--peers)
fi
python3 bench/precision/score.py --cache "$cache" --projects "${names[@]}" "${peers[@]}"
