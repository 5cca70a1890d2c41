# Functions: arguments, local variables, dynamic scoping, return status.
x=global
show() { echo "show: x=$x"; }
f() {
    local x=local_f
    show
    g
    echo "f after g: x=$x"
}
g() { x=changed_by_g; local y=only_g; echo "g: y=$y"; }
f
echo "top: x=$x y=${y-unset}"
args() { echo "$# $1 $2"; set -- inner; echo "$1"; }
set -- outer1 outer2
args a 'b c'
echo "$1 $2"
ret() { return "$1"; }
ret 3; echo "ret $?"
ret 0 && echo "ret ok"
counter=0
bump() { counter=$((counter + 1)); }
bump; bump; bump
echo "counter $counter"
lv() { local a b=2; a=1; echo "$a$b"; local c; echo "[${c-unset}]"; }
lv
echo "a=${a-unset} b=${b-unset}"
