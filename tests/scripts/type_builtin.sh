# type: keywords, builtins, functions and files; -t, -p, -P, -a, -f.
f() { echo in f; }
type while cd f
type -t while cd f sh
type -p cd; echo "p builtin: $?"
type -P cd; echo "P builtin: $?"
type -f f; echo "f function: $?"
type -a cd | head -1
type -t -a f
type nosuchcommand; echo "missing: $?"
type -t nosuchcommand; echo "t missing: $?"
type -z cd; echo "bad option: $?"
d=$(mktemp -d)
mkdir "$d/sub"
PATH="$d:$PATH" type -P sub; echo "directory: $?"
rm -r "$d"
