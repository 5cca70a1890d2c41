# Subshells: ( ), pipelines and $( ) do not change the parent shell.
x=parent
( x=child; echo "inside: $x" )
echo "outside: $x"
( cd / && pwd )
pwd_before=$PWD
( cd /tmp )
[ "$PWD" = "$pwd_before" ] && echo "cwd unchanged"
( exit 7 ); echo "subshell status $?"
( f() { echo "sub function"; }; f )
type f >/dev/null 2>&1 || echo "function did not leak"
echo piped | { read -r v; echo "group got $v"; }
echo "v after pipe: [${v-}]"
{ y=brace; }; echo "brace group shares: $y"
( set -- a b; echo "sub args $#" ); echo "args $#"
(trap 'echo sub-exit' EXIT; exit 0)
echo "$( (echo nested subshell) )"
( ( ( echo deep; exit 3 ) ); echo "deep status $?" )
