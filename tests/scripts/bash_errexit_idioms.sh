# `set -euo pipefail` and friends: options grouped with -o, -e cleared in
# $(..) unless inherit_errexit, read -t's status on a timeout.
set -euo pipefail
echo "flags: $-"
set -o | grep -E '^(errexit|nounset|pipefail) '
set +euo pipefail
set -eo pipefail -u
echo "again: $-"
set -oo noclobber errexit
set -o | grep -E '^(noclobber|errexit) '
set +o noclobber
x=$(false; echo captured)
echo "x=$x"
echo "[$(false; echo c)]"
f() { false; echo "in f"; }
y=$(f)
echo "y=$y"
if read -t 0.2 z < <(sleep 2); then echo "read"; else echo "read timed out: $?"; fi
printf 'ab' > "${TMPDIR:-/tmp}/partial.$$"
read -r w < "${TMPDIR:-/tmp}/partial.$$" || echo "end of file: $? w=$w"
rm -f "${TMPDIR:-/tmp}/partial.$$"
shopt -s inherit_errexit
shopt inherit_errexit
z=$(false; echo not reached) || echo "status $?, z='$z'"
set +e
set -euo nosuchoption
echo "bad option: $?"
