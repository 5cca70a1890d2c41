# bash extension: more of [[ ]].
x=abc
[[ $x == a* && $x != *z ]] && echo "patterns"
[[ $x == @(abc|def) ]] && echo "extglob in [[ ]] without shopt"
[[ $x == [a-c]?? ]] && echo "bracket pattern"
[[ $x =~ ^a(b)(c)$ ]] && echo "rematch: ${BASH_REMATCH[0]} ${BASH_REMATCH[1]} ${BASH_REMATCH[2]} (${#BASH_REMATCH[@]})"
re='^[0-9]+$'
[[ 123 =~ $re ]] && echo "regex from a variable"
[[ "a.c" =~ a\.c ]] && echo "escaped dot"
[[ abc =~ "a.c" ]] || echo "quoted regex is literal"
[[ apple < banana ]] && echo "less"
[[ b > a ]] && echo "greater"
[[ 10 -lt 9 ]] || echo "numeric -lt"
[[ 1+1 -eq 2 ]] && echo "arithmetic operands"
set_var=1; arr=(x); declare -A m=([k]=1)
[[ -v set_var ]] && echo "-v scalar"
[[ -v unset_var ]] || echo "-v unset"
[[ -v arr[0] ]] && echo "-v element"
[[ -v arr[5] ]] || echo "-v missing element"
[[ -v m[k] ]] && echo "-v assoc key"
[[ ( -n $x || -z $x ) && ! -z $x ]] && echo "grouping"
[[ -z "" ]] && [[ -n x ]] && echo "-z -n"
[[ -o errexit ]] || echo "errexit off"
set -o pipefail; [[ -o pipefail ]] && echo "pipefail on"; set +o pipefail
[[ -e /bin/sh && -d / && ! -f / ]] && echo "file tests"
y="a b"
[[ $y == "a b" ]] && echo "no word splitting"
[[ x == x ]]; echo "status $?"; [[ x == y ]]; echo "status $?"
