# if / elif / else, conditions as command lists.
classify() {
    if [ "$1" -lt 0 ]; then
        echo "$1 negative"
    elif [ "$1" -eq 0 ]; then
        echo "$1 zero"
    elif [ "$1" -lt 10 ]
    then
        echo "$1 small"
    else
        echo "$1 large"
    fi
}
for n in -5 0 7 42; do classify $n; done
if false; then echo no; fi
echo "status after untaken if: $?"
if false; true; then echo "last command decides"; fi
if ! false; then echo "negated"; fi
if true && false || true; then echo "and-or"; fi
x=$(if true; then echo from-if; fi)
echo "$x"
if [ -z "" ]; then :; else echo never; fi; echo "done $?"
