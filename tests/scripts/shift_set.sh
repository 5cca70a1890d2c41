# shift, set -- and the positional parameters.
set -- a b c d e
echo "$# $*"
shift
echo "$# $*"
shift 2
echo "$# $1"
shift 5 2>/dev/null || echo "shift too far: status non-zero, $# left"
shift 2
echo "$# [$*]"
shift 2>/dev/null; echo "shift on empty: $?"
set -- 'x y' z
echo "$# [$1]"
set --
echo "$# [$*]"
set -- 1 2 3 4 5 6 7 8 9 10 11
echo "${10} ${11} $10"
f() { shift; echo "in f: $*"; }
f p q r
echo "outside: $#"
set -- "$@" appended
echo "$# last=${12}"
