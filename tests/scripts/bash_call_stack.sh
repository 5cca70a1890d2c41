# FUNCNAME, BASH_SOURCE, BASH_LINENO and caller: functions, a sourced
# file, the script's own frame ("main"), and the idioms scripts use them
# for (their own directory, "am I sourced", log lines naming the caller).
echo "top: ${BASH_SOURCE[0]##*/} ${#BASH_SOURCE[@]} ${BASH_LINENO[*]} ${FUNCNAME-unset} ${#FUNCNAME[@]}"
caller; echo "caller: $?"
caller 0; echo "caller 0: $?"
[[ "${BASH_SOURCE[0]}" == "$0" ]] && echo "run, not sourced"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ "$here" == "$PWD" ]] && echo "found its own directory"

log() { echo "[${FUNCNAME[1]}:${BASH_LINENO[0]}] $*"; }
inner() {
  log "from inner"
  echo "inner: ${FUNCNAME[*]} / ${BASH_LINENO[*]}"
  caller 0
  caller 1
  caller 2; echo "caller 2: $?"
}
outer() {
  inner
}
outer
countdown() {
  if (( $1 > 0 )); then countdown $(( $1 - 1 )); else echo "depth ${#FUNCNAME[@]}: ${FUNCNAME[*]}"; fi
}
countdown 3

dir=$(mktemp -d)
cat > "$dir/lib.sh" <<'LIB'
echo "sourced: ${BASH_SOURCE[0]##*/} ${BASH_SOURCE[1]##*/} ${FUNCNAME[*]-none} ${BASH_LINENO[*]}"
[[ "${BASH_SOURCE[0]}" != "$0" ]] && echo "lib knows it is sourced"
from_lib() { echo "from_lib: ${BASH_SOURCE[0]##*/} ${FUNCNAME[*]} ${BASH_LINENO[*]}"; }
from_lib
LIB
. "$dir/lib.sh"
loader() { . "$dir/lib.sh"; }
loader
from_lib
echo "$(echo "in \$(..): ${FUNCNAME[*]-none} ${BASH_SOURCE[0]##*/}")"
( echo "in (..): ${BASH_SOURCE[0]##*/} ${BASH_LINENO[*]}" )
rm -r "$dir"
