#!/usr/bin/env bash
# CI step: build every fuzz target on the stable toolchain and replay the saved corpus.
#
# No cargo-fuzz and no nightly: the fuzz crate (fuzz/) is built with plain `cargo build`,
# the SanitizerCoverage flags that cargo-fuzz would pass, and libfuzzer-sys (which
# compiles libFuzzer itself with the system C++ compiler). Each target then runs once
# over every file of fuzz/corpus/<target>/ (-runs=0: no mutation, a few seconds).
# Any panic, abort, timeout or allocation bomb fails the step. Needs a C++ compiler.
# Takes ~1.5-3.5 min on 2 cores from a clean target dir (build), ~1 s of replay.
#
# Environment:
#   CARGO_TARGET_DIR  where to build (default: fuzz/target)
#   FUZZ_SECONDS      also fuzz each target for this many seconds after the replay
#                     (default 0: replay only)
#   FUZZ_TARGETS      the targets to build and replay (default: all five)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

targets=${FUZZ_TARGETS:-"csv libsvm npy model_file fit_predict"}
seconds=${FUZZ_SECONDS:-0}
host=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-"$root/fuzz/target"}
# The flags cargo-fuzz passes, minus -Zsanitizer (nightly-only): coverage counters, the
# PC table, comparison tracing, stack depth, no branch folding (finer coverage), one
# codegen unit (sancov otherwise blocks ThinLTO imports), and cfg(fuzzing).
export RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cllvm-args=-sanitizer-coverage-stack-depth \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
-Ccodegen-units=1 --cfg fuzzing"

# The panic message (or allocation bomb, timeout, ...) and the saved input of a failed run.
report() {
    grep -E -A4 'panicked at|allocation bomb|ERROR: libFuzzer|out-of-memory|timeout' "$1" \
        | grep -v -E '^ +[0-9]+: |^ +at ' | head -n 24 || true
    grep -E 'Test unit written|Running: ' "$1" || true
}

start=$(date +%s)
bins=()
for t in $targets; do bins+=(--bin "$t"); done
# --target keeps RUSTFLAGS off build scripts and proc macros (an instrumented proc
# macro cannot be loaded by rustc). No --locked: fuzz/Cargo.lock pins the fuzz-only
# dependencies, and cargo adds to it whatever the main crate's dependencies gained
# since, instead of failing the step.
cargo build --release --target "$host" "${bins[@]}"
built=$(date +%s)
echo "fuzz-replay: built ${targets// /, } in $((built - start)) s"

out="$CARGO_TARGET_DIR/$host/release"
artifacts=$(mktemp -d)
failed=()
for t in $targets; do
    corpus="$root/fuzz/corpus/$t"
    n=$(find "$corpus" -type f | wc -l)
    echo "fuzz-replay: $t: replaying $n inputs"
    flags=(-rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=30 -artifact_prefix="$artifacts/$t-")
    if ! "$out/$t" "${flags[@]}" -runs=0 "$corpus" >"$artifacts/$t.log" 2>&1; then
        report "$artifacts/$t.log"
        failed+=("$t")
        continue
    fi
    grep -E '^#[0-9]+[[:space:]]+DONE' "$artifacts/$t.log" | tail -n 1 || true
    if [ "$seconds" -gt 0 ]; then
        # Fuzz into a scratch copy so the committed corpus is not changed.
        scratch=$(mktemp -d)
        if ! "$out/$t" "${flags[@]}" -max_total_time="$seconds" "$scratch" "$corpus" \
            >"$artifacts/$t-fuzz.log" 2>&1; then
            report "$artifacts/$t-fuzz.log"
            failed+=("$t (fuzzing)")
        fi
        rm -rf "$scratch"
    fi
done
echo "fuzz-replay: done in $(($(date +%s) - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz-replay: FAILED: ${failed[*]} (crash inputs in $artifacts)" >&2
    exit 1
fi
rm -rf "$artifacts"
