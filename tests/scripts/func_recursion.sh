# Recursive functions, with locals keeping each level's values.
fact() {
    if [ "$1" -le 1 ]; then echo 1; return; fi
    local sub
    sub=$(fact $(($1 - 1)))
    echo $(($1 * sub))
}
fact 1; fact 5; fact 10
fib() {
    local n=$1
    if [ "$n" -lt 2 ]; then r=$n; return; fi
    fib $((n - 1)); local a=$r
    fib $((n - 2))
    r=$((a + r))
}
for i in 0 1 2 10 15; do fib $i; printf '%s ' "$r"; done
echo
depth() { if [ "$1" -gt 0 ]; then local lvl=$1; depth $(($1 - 1)); echo "back at $lvl"; fi; }
depth 3
