# Where set -e does not apply: conditions, && and || lists, !, and until/while tests.
set -e
if false; then echo no; else echo "if condition"; fi
while false; do :; done
until true; do :; done
false && echo no
echo "after &&"
false || echo "after ||"
! true
echo "after !"
f() { false; echo "in function, after false (exempt inside a condition)"; }
if f; then echo "f returned 0"; fi
f || echo unreachable
(set +e; false; echo "set +e in subshell")
echo "before the end"
(false; echo "not reached in subshell")
echo "status $? not reached"
