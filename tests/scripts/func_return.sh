# return from inside loops and nested calls; a function's status is its last command's.
first_even() {
    for n in "$@"; do
        while true; do
            if [ $((n % 2)) -eq 0 ]; then echo "$n"; return 0; fi
            break
        done
    done
    return 1
}
first_even 3 5 8 9; echo "status $?"
first_even 1 3; echo "status $?"
last() { true; false; }
last; echo "last command status $?"
bare() { sh -c 'exit 6'; return; }
bare; echo "bare return keeps $?"
outer() { inner; echo "outer continues after inner returned $?"; }
inner() { return 4; echo never; }
outer
f() { echo "first definition"; }
f
f() { echo "redefined"; }
f
unset -f f
f 2>/dev/null; echo "after unset -f: $?"
g() { echo "to redirected"; } > /dev/null
g; echo "definition redirect applied"
h() (
    cd /
    x=subshell-body
    echo "$x in ${PWD}"
)
h; echo "x=[${x-}]"
