# bash extension: shopt -s lastpipe runs the last pipeline element here.
echo "a b" | read x y; echo "without: [$x][$y]"
shopt -s lastpipe
echo "a b" | read x y; echo "with: [$x][$y]"
total=0
printf '1\n2\n3\n' | while read -r n; do total=$((total + n)); done
echo "total $total"
printf 'p\nq\n' | mapfile -t got; echo "mapfile: ${got[*]}"
false | true; echo "pipestatus ${PIPESTATUS[*]}"
true | false; echo "last status $?"
set -o pipefail
false | true; echo "pipefail $?"
set +o pipefail
count=0
seq 5 | while read -r _; do count=$((count + 1)); done; echo "count $count"
