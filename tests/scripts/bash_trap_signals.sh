# trap on signals the script sends itself with kill $$, trap -p, ignoring.
trap 'echo "got USR1"' USR1
trap 'echo "got USR2"' SIGUSR2
trap 'echo "got HUP"' 1
trap -p USR1 USR2 HUP
kill -USR1 $$; echo "after USR1"
kill -s USR2 $$; echo "after USR2"
kill -HUP $$; echo "after HUP"
kill -n 10 $$; echo "after -n 10"
trap '' USR1
kill -USR1 $$; echo "ignored USR1"
trap 'echo "got INT"' INT
kill -INT $$; echo "after INT"
trap - USR2
trap -p USR2
kill -0 $$ && echo "kill -0 self works"
f() { echo "in function"; kill -USR1 $$; echo "function goes on"; }
trap 'echo "USR1 in function"' USR1
f
trap 'echo "EXIT trap, status $?"' EXIT
trap 'echo "TERM"; exit 9' TERM
kill $$
echo "not reached"
