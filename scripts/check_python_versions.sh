#!/usr/bin/env bash
# Re-verify the supported Python versions (docs/getting-started.md). For each interpreter given: a
# fresh clone of this repository at REF, a fresh venv made by that interpreter and an empty
# SEMCOM_SIM_CACHE, all in a new folder outside the repository; then the README's two quick-start
# commands word for word, read from between <!-- quickstart:begin --> and <!-- quickstart:end -->
# by .ci/run's own extract_quickstart. The venv keeps the pip that the interpreter bundles, as a user's would.
# Not run by CI: about 10 minutes per interpreter on an idle 2-core machine (install 2-3 min, test
# suite 4-6 min); 26-35 minutes were seen on one shared with other jobs.
#
#   scripts/check_python_versions.sh                          # python3.11 python3.12 python3.13
#   OMP_NUM_THREADS=2 nice -n 15 scripts/check_python_versions.sh python3.12 /opt/py314/bin/python3
#   FIRST_ONLY=1 scripts/check_python_versions.sh python3.10  # the install refusal only
#
# Environment: REF (default HEAD; commits only, the working tree's edits are not cloned), CHECK_DIR
# (default a new folder under TMPDIR; the logs stay there), FIRST_ONLY=1 (run the first command
# only), KEEP=1 (keep each clone and venv; else they are removed once their logs are written, as a
# venv with torch takes several GB). An interpreter outside pyproject.toml's requires-python is
# expected to fail the first command in one line from pip:
#   ERROR: Package 'semcom-sim' requires a different Python: 3.10.13 not in '<3.14,>=3.11'
# Exit status: 0 when every command passed for every interpreter, 1 otherwise.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
REF=${REF:-HEAD}
SHA=$(git -C "$REPO" rev-parse --verify "$REF^{commit}") || { echo "ERROR: no commit $REF in $REPO" >&2; exit 2; }
if [[ -n $(git -C "$REPO" status --porcelain --untracked-files=no) ]]; then
    echo "note: $REPO has uncommitted changes; they are not checked (the clone is at $REF = ${SHA:0:12})" >&2
fi
CHECK_DIR=${CHECK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/semcom-pyv.XXXXXX")}
mkdir -p "$CHECK_DIR"
PYTHONS=("$@")
((${#PYTHONS[@]})) || PYTHONS=(python3.11 python3.12 python3.13)

# .ci/run's own reader of the quick-start block (the function's text, taken from the clone's .ci/run).
load_extractor() {  # load_extractor CLONE
    local src
    src=$(sed -n '/^extract_quickstart() {$/,/^}$/p' "$1/.ci/run")
    [[ -n $src ]] || { echo "ERROR: no extract_quickstart() in $1/.ci/run" >&2; return 1; }
    BEGIN_MARK='<!-- quickstart:begin -->'
    END_MARK='<!-- quickstart:end -->'
    eval "$src"
}

SUMMARY=()
FAILED=0
for PY in "${PYTHONS[@]}"; do
    if ! command -v "$PY" > /dev/null; then
        SUMMARY+=("$(printf '%-28s FAIL  interpreter not found' "$PY")"); FAILED=1; continue
    fi
    if ! VER=$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>&1); then
        echo "$VER" >&2
        SUMMARY+=("$(printf '%-28s FAIL  interpreter does not run' "$PY")"); FAILED=1; continue
    fi
    D="$CHECK_DIR/$VER"
    rm -rf "$D" && mkdir -p "$D/cache"
    printf '\n======== %s (%s) in %s ========\n' "$PY" "$VER" "$D"
    git clone -q --no-checkout "$REPO" "$D/repo" && git -C "$D/repo" checkout -q "$SHA" || {
        SUMMARY+=("$(printf '%-28s FAIL  git clone' "$PY $VER")"); FAILED=1; continue; }
    # The clone sees ../shared as CI does (tests that need ../shared/data skip where it is absent).
    [[ -d $REPO/../shared ]] && ln -s "$(cd "$REPO/../shared" && pwd)" "$D/shared"
    README="$D/repo/README.md"
    QUICKSTART=()
    if ! load_extractor "$D/repo" || ! mapfile -t QUICKSTART < <(extract_quickstart) \
        || ((${#QUICKSTART[@]} != 2)); then
        SUMMARY+=("$(printf '%-28s FAIL  could not read the quick start from README.md' "$PY $VER")")
        FAILED=1; continue
    fi
    "$PY" -m venv "$D/venv" || { SUMMARY+=("$(printf '%-28s FAIL  venv' "$PY $VER")"); FAILED=1; continue; }
    PIPV=$("$D/venv/bin/python3" -m pip --version | cut -d' ' -f1-2)
    LINE=$(printf '%-28s' "$PY $VER ($PIPV)")
    i=0
    for cmd in "${QUICKSTART[@]}"; do
        i=$((i + 1))
        [[ ${FIRST_ONLY:-0} == 1 && $i -gt 1 ]] && break
        log="$D/quickstart$i.log"
        echo "-- $i/2: $cmd   (log: $log)"
        t=$SECONDS
        (cd "$D/repo" && source "$D/venv/bin/activate" && export SEMCOM_SIM_CACHE="$D/cache" \
            && bash -c "$cmd") < /dev/null > "$log" 2>&1
        rc=$?
        dt=$((SECONDS - t))
        if ((rc == 0)); then status=PASS; else status=FAIL; FAILED=1; fi
        # What to show: pytest's closing line if there is one, else the first pip ERROR line.
        what=$(grep -E '^=*[ ]*[0-9]+ (passed|failed)' "$log" | tail -n 1)
        [[ -z $what ]] && what=$(grep -m 1 '^ERROR' "$log")
        [[ -z $what && $rc != 0 ]] && what=$(tail -n 1 "$log")
        echo "   $status rc=$rc ${dt}s ${what}"
        LINE+=$(printf '  [%d] %s %4ss %s' "$i" "$status" "$dt" "${what:-}")
    done
    SUMMARY+=("$LINE")
    if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$D/venv" "$D/repo" "$D/cache"; fi
done

printf '\n======== summary (%s at %s; logs in %s) ========\n' "$REF" "${SHA:0:12}" "$CHECK_DIR"
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
