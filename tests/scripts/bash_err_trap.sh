# bash extension: trap ... ERR, with set -E, and where it does not fire.
trap 'echo "ERR: status $?"' ERR
false
echo "after false"
if false; then :; fi
false || true
! false
while false; do :; done
true && false
{ false; }
( exit 3 )
x=$(exit 4)
(( 0 ))
[[ a == b ]]
true | false
f() { false; echo "in f, not trapped"; return 5; }
f
set -E
f
set +E
eval 'false'
trap - ERR
false
echo "trap removed"
trap 'echo "dying with $?"' ERR
set -e
g() { return 6; }
g
echo "not reached"
