# while read from a pipe; the loop runs in a subshell, as in bash.
count=0
printf 'alpha beta\ngamma\n  spaced  out  \n' | while read a b; do
    count=$((count + 1))
    echo "$count: a=[$a] b=[$b]"
done
echo "count outside: $count"
seq 3 | while read n; do echo "n=$n"; done
printf 'no newline at end' | while read -r l; do echo "got [$l]"; done
printf 'no newline at end' | { read -r l; echo "status $? [$l]"; }
printf 'back\\slash\ncont\\\nline\n' | while read l; do echo "plain [$l]"; done
printf 'back\\slash\n' | while read -r l; do echo "raw [$l]"; done
seq 5 | { read a; read b; echo "$a $b"; cat; }
