# kill of background jobs that run inside the shell (a function, ( ), { }):
# they end as a forked subshell dies of the signal, at once.
spin(){ while :; do printf .; sleep 0.2; done; }
spin > /dev/null & s=$!
sleep 0.5; kill $s
wait $s; echo "spin: $?"
(sleep 3; echo not here) & p=$!
kill $p; wait $p; echo "subshell: $?"
{ sleep 3; echo nor here; } &
kill %1 2>/dev/null || kill %%; wait; echo "group: $?"
f() { sleep 0.3; echo "f ran"; }
f & kill -0 $!; echo "kill -0: $?"; wait $!; echo "f: $?"
g() { sleep 3; } ; g & q=$!; kill -KILL $q; wait $q; echo "kill -9: $?"
# Without job control a background subshell ignores SIGINT and SIGQUIT.
f(){ sleep 1; echo fn; }; f & kill -QUIT $!; wait $!; echo $?
