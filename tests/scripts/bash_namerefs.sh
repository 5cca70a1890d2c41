# declare -n / local -n: reads, writes, arrays and unset go to the named
# variable; ${!ref} and declare -p show the reference itself.
show() {
    local -n arr=$1
    echo "${arr[$2]} of ${#arr[@]}"
    arr[1]=changed
}
list=(a b c)
show list 2
echo "${list[@]}"
declare -A days=([mon]=eggs [sun]=jam)
show days sun
for k in mon sun 1; do echo "$k=${days[$k]}"; done
x=X
declare -n ref=x
echo "ref=$ref !ref=${!ref}"
ref=through
echo "x=$x"
declare -p ref
declare -n chain=ref
echo "chain=$chain"
declare -n ref=y
y=Y
echo "ref=$ref x=$x"
declare +n ref
echo "ref=$ref"
n=1
declare -n bad=n 2>/dev/null; echo "status=$?"
declare -n self=self 2>/dev/null; echo "self status=$?"
declare -n at='@' 2>/dev/null; echo "at status=$?"
a=(zero one two)
declare -n elem='a[2]'
echo "elem=$elem"
elem=TWO
echo "${a[@]}"
declare -n whole='a[@]'
printf '<%s>' "$whole"; echo
z=1
declare -n zr=z
unset zr
echo "z=${z-unset} zr is $(declare -p zr)"
unset -n zr
declare -p zr 2>/dev/null || echo "zr gone"
f3() { local -n out=$1; out=set-by-f3; }
f2() { f3 "$@"; }
f1() { local mine=before; f2 mine; echo "mine=$mine"; }
f1
declare -n empty
echo "empty=[$empty]"
empty=target
target=T
echo "empty now=$empty"
(( ref2 = 5 )) ; declare -n ar=num; num=3; (( ar += 4 )); echo "num=$num"
