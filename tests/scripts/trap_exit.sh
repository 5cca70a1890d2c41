# trap '...' EXIT runs at the end, keeps the exit status; subshells have their own.
trap 'echo "exit trap, status $?"' EXIT
echo start
( trap 'echo "subshell trap"' EXIT; echo in subshell )
trap - EXIT
trap 'echo "replaced trap"; echo bye' EXIT
x=$(trap 'echo trapped-in-subst' EXIT; echo value)
echo "subst: $x"
f() { echo "in function"; exit 4; }
f
echo "not reached"
