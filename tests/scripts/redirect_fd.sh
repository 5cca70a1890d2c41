# stderr: compared
# Descriptor redirections: 2>&1, >&2, n>&m, and the order of redirections.
echo "to stdout"
echo "to stderr" >&2
echo "also stderr" 1>&2
{ echo "group out"; echo "group err" >&2; } 2>&1 | sed 's/^/piped: /'
ls /nonexistent-nsh-test-path 2>&1 | sed 's/.*/ls failed visibly/'
ls /nonexistent-nsh-test-path 2>/dev/null || echo "ls status $?"
{ echo "swap out"; echo "swap err" >&2; } 3>&1 1>&2 2>&3 | sed 's/^/was stderr: /'
dir=$(mktemp -d)
{ echo out; echo err >&2; } > "$dir/both" 2>&1
sort "$dir/both"
{ echo out2; echo err2 >&2; } 2>&1 > "$dir/only-out" | sed 's/^/terminal got: /'
cat "$dir/only-out"
echo "fd 4" 4>"$dir/four" >&4
cat "$dir/four"
sh -c 'echo "child stderr" >&2' 2>&1
rm -r "$dir"
