#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes (fuzz/fuzz_targets) with libFuzzer and AddressSanitizer,
# SECONDS each (default 60), growing fuzz/corpus/<target>, then minimises each corpus. A crash
# leaves its input in fuzz/artifacts/<target>/ and fails the script. Too long for CI, which
# replays the committed corpus in `cargo test` instead (crates/selflearn-fuzz).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   # all targets when none is named
#   scripts/fuzz.sh --seeds                 # rewrite the seeds and fixtures from a fresh demo world
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--seeds" ]]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cargo build --release --locked -p selflearn-cli -p selflearn-fuzz
    target/release/selflearn demo --dir "$work/demo" >/dev/null
    target/release/selflearn learn --log-dir "$work/demo/log" --artifacts "$work/set" \
        --encoder "$work/encoder.safetensors"
    target/release/selflearn export --log-dir "$work/demo/log" --out "$work/events.jsonl"
    target/release/selflearn-fuzz-seeds "$work/set" "$work/events.jsonl"
    exit 0
fi

seconds=${1:-60}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(event jsonl rewrite_request rewrite_table online encoder lexicon manifest)
fi

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
# cargo-fuzz passes the -Z flags of sanitizer coverage, which only a nightly compiler takes;
# this toolchain is stable and ships the sanitizer runtimes, and this lets it take them.
export RUSTC_BOOTSTRAP=1

for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    echo "== $target: ${seconds} s"
    cargo fuzz run --fuzz-dir fuzz "$target" "$corpus" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 2>&1 | grep -E "^(#|==|stat::|INFO: seed|SUMMARY|Done)|panicked|ERROR" | tail -12
    status=${PIPESTATUS[0]}
    [[ $status -eq 0 ]] || { echo "$target: a finding (see fuzz/artifacts/$target/)"; exit "$status"; }
    cargo fuzz cmin --fuzz-dir fuzz "$target" "$corpus" >/dev/null 2>&1
    echo "$target: $(ls "$corpus" | wc -l) inputs kept"
done
