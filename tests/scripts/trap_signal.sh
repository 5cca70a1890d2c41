# trap on a signal the script sends itself with kill $$.
trap 'echo "got USR1"' USR1
kill -USR1 $$
echo "after kill: $?"
trap 'echo "got TERM, leaving"; exit 5' TERM
kill -TERM $$
echo "not reached"
