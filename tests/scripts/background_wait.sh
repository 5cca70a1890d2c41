# Background jobs, $! and wait with statuses.
sh -c 'exit 5' &
p=$!
wait $p
echo "waited: $?"
{ echo "group in background"; } > /dev/null &
wait $!
echo "group: $?"
sh -c 'kill -TERM $$' &
wait $!
echo "signalled: $?"
dir=$(mktemp -d)
for i in 1 2 3; do echo "job $i" > "$dir/$i" & done
wait
cat "$dir/1" "$dir/2" "$dir/3"
rm -r "$dir"
[ -n "$p" ] && echo "\$! was set"
true & wait; echo "wait without jobs: $?"
