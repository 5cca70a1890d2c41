# bash extension: dynamic scoping of local and declare.
x=global
show() { echo "show sees $x"; }
outer() { local x=outer; show; inner; echo "outer after inner: $x"; }
inner() { x=changed-by-inner; local y=inner-local; }
outer
echo "global after: $x y=[${y-unset}]"
counter() { local -i n=0; n+=1; echo "local -i: $n"; }
counter; counter
arrays() { local -a list=("$@"); echo "${#list[@]} args, last ${list[-1]}"; }
arrays a b c
assoc() { local -A seen; local w; for w in "$@"; do seen[$w]=1; done; echo "${#seen[@]} distinct"; }
assoc a b a c b
ro() { local -r fixed=1; fixed=2 2>/dev/null; echo "readonly local: $fixed"; }
ro 2>/dev/null
nested() { local v=1; f2() { echo "f2 sees v=$v"; }; f2; }
nested
g() { declare d=in-g; echo "declare in function: $d"; }
g; echo "after g: [${d-unset}]"
function kw { echo "function keyword: $1"; }
kw arg
sub() ( x=in-subshell-body; echo "$x" )
sub; echo "after subshell function: $x"
rec() { local n=$1; (( n == 0 )) && { echo done; return; }; rec $((n - 1)); }
rec 50
