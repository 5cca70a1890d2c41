# stderr: compared
# set -x traces commands to stderr, with bash's quoting.
set -x
echo hi
x=1
echo "a b" "$x"
y="c d" true
echo "it's" '' '~x' 'x~' a=b '#c' 'd#' 'e*'
f() { echo "in f"; }
f arg
set +x
echo untraced
