# wait -n: the first job to end, -p naming it, a job that ended before
# the call, a function job, none left (127).
sh -c 'sleep 1.5; exit 3' & p=$!
sh -c 'sleep 0.1; exit 4' &
wait -n -p who; echo "$? $([ "$who" = "$!" ] && echo last)"
wait -n $p; echo $?
wait -n; echo $?
f() { sleep 0.2; return 5; }
f &
wait -n; echo "fn $?"
sh -c 'exit 6' &
sleep 0.5
wait -n; echo "ended before: $?"
wait -p x -n %9 2>/dev/null; echo "no such job: $? [${x-unset}]"
