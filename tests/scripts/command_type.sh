# command, command -v and type.
command -v echo
command -v cd
command -v sh >/dev/null && echo "sh found"
command -v no-such-cmd-nsh >/dev/null; echo "missing: $?"
echo() { printf 'function echo: %s\n' "$*"; }
echo hi
command echo "builtin echo via command"
unset -f echo
f() { :; }
type f | head -n 1
type echo
type -t f; type -t echo; type -t if
