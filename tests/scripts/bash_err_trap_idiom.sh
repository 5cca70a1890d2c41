# The ERR trap idiom: $LINENO and $BASH_COMMAND of the failing command,
# a function call and a subshell named by their own line.
trap 'echo "error on line $LINENO: [$BASH_COMMAND] status $?"' ERR
check() {
  return 1
}
echo start
check
(exit 2)
x=/nope
ls "$x" 2>/dev/null
false || true
[[ -z "a" ]]
echo "end $LINENO"
trap - ERR
f() { echo "in f: $BASH_COMMAND"; }
f
trap 'echo "debug: $BASH_COMMAND"' DEBUG
echo traced
trap - DEBUG
