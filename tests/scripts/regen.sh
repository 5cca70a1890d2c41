#!/bin/sh
# Regenerates the expected output of the conformance scripts with bash:
# NAME.out (stdout), NAME.status (exit status) and, for scripts holding the
# line `# stderr: compared`, NAME.err (stderr). Never edit those by hand.
#
#   tests/scripts/regen.sh            all scripts
#   tests/scripts/regen.sh NAME...    only these (NAME or NAME.sh)
#
# The environment is the one tests/tests/nsh_scripts.rs gives both shells:
# only PATH, HOME and LC_ALL=C (the test adds TMPDIR and NEFELE_ADDR, which
# no output may depend on), stdin from /dev/null, cwd = this directory.
# Scripts must be deterministic and leave nothing behind outside the temp
# dirs they make (mktemp -d) and remove.
set -eu
cd "$(dirname "$0")"
if [ $# -eq 0 ]; then
    set -- $(ls *.sh | grep -v '^regen\.sh$')
fi
for script in "$@"; do
    name=${script%.sh}
    [ -f "$name.sh" ] || { echo "regen: no $name.sh" >&2; exit 1; }
    status=0
    env -i PATH="$PATH" HOME="$HOME" LC_ALL=C bash "$name.sh" \
        < /dev/null > "$name.out" 2> "$name.err.tmp" || status=$?
    echo "$status" > "$name.status"
    if grep -q '^# stderr: compared$' "$name.sh"; then
        mv "$name.err.tmp" "$name.err"
    else
        rm -f "$name.err.tmp" "$name.err"
    fi
    echo "$name: status $status"
done
