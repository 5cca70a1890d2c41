# `jobs` in $(..) and pipelines lists the shell's jobs (kill $(jobs -p),
# a pool of at most 3 jobs with wait -n); a subshell's own `wait` does
# not wait for them.
sleep 30 & sleep 30 &
echo "count: $(jobs -p | wc -l) $(jobs -r | wc -l)"
jobs -p | wc -l
kill $(jobs -p)
wait; echo "killed, wait: $?"
( wait; echo "subshell wait: $?" )
echo "left: $(jobs -p | wc -l)"
most=0
for i in 1 2 3 4 5 6; do
  sh -c "sleep 0.$i" &
  while (( $(jobs -r | wc -l) >= 3 )); do wait -n; done
  running=$(jobs -r | wc -l)
  (( running > most )) && most=$running
done
wait
echo "pool done, at most $most running after a start"
