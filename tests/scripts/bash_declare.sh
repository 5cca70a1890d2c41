# bash extension: declare and local with attributes.
f() { local -i n=5; n+=2; echo "local -i: $n"; }
f
declare -i k=3; k+=4; echo "declare -i: $k"
declare -r RO=1; echo "declare -r: $RO"
( RO=2 ) 2>/dev/null || echo "readonly kept"
declare x=plain; echo "declare: $x"
g() { declare inner=scoped; echo "in g: $inner"; }
g; echo "after g: [${inner-unset}]"
declare -x EXP=exported; sh -c 'echo "child: $EXP"'
h() { declare -g G=global; }; h; echo "declare -g: $G"
